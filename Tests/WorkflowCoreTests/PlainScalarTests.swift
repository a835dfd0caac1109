import JobFormat
import Testing
import Yams

/// The hand-written classifier of plain scalars decides exactly what Yams's default resolver
/// (its regular expressions) decides.
@Suite struct PlainScalarTests {
    func yams(_ text: String) -> Yams.Tag.Name {
        Yams.Tag.Name(rawValue: Node.scalar(Node.Scalar(text, Yams.Tag(.implicit))).tag.rawValue)
    }

    @Test func agreesWithYamsOnKnownShapes() {
        let samples = [
            "", "~", "null", "Null", "NULL", "nul", "true", "True", "TRUE", "tRue", "yes", "no", "on", "off", "OFF",
            "y",
            "0", "00", "07", "08", "0o17", "0o", "0b101", "0b", "0b2", "0x1F", "0xg", "0x", "-0x1", "+12", "1_000",
            "_1",
            "1:30", "1:60", "190:20:30", "1:30.5", "1.", ".5", "1e3", "1e", "1.5e-3", ".5e+1", ".5e1", "-.inf", ".inf",
            "+.INF", ".nan", "-.nan", ".NaN", "<<", "=", "2026-11-29", "2026-1-2", "2026-01-02T10:00:00",
            "2026-1-2 10:00:00.5 +01:00", "2026-1-2t1:00:00Z", "2026-11-29 10:00", "2026-11-29 10:00:00 Z",
            "2026-11-29T10:00:00+1", "2026-11-29T10:00:00+01:0", "12:30", "0 9 * * MON", "*/5", "1h30m", "2d", "1.2.3",
            "--1", "+-1", "0.", "-0", "+0", "09", "0_7", "0x_", "1__2", "3:0", "3:5", "1:2:3", "1:2:3.", "Infinity",
        ]
        for sample in samples { #expect(PlainScalar.tag(of: sample) == yams(sample), "'\(sample)'") }
    }

    @Test func agreesWithYamsOnManyGeneratedStrings() {
        let alphabet = Array("0123456789+-._:eExXbBoTtZ anINfFl~<=y")
        var generator = SystemRandomNumberGenerator()
        var disagreements: [String] = []
        for _ in 0..<40_000 {
            let length = Int.random(in: 0...10, using: &generator)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator) ?? "0" })
            if PlainScalar.tag(of: text) != yams(text) { disagreements.append(text) }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(20))")
    }
}
