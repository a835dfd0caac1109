import RuntimeSupport

/// Parses and prints the durations of job files: `500ms`, `90s`, `1h30m`, `2d`.
public enum StepDuration {
    /// The accepted form, in words, for error messages.
    public static let form = "a duration like 500ms, 90s, 5m, 1h30m or 2d (units: ms, s, m, h, d)"

    /// Parses `text` into a Swift `Duration`; nil when it is not a positive duration of that form.
    public static func parse(_ text: String) -> Duration? {
        var total: Int64 = 0  // milliseconds
        var digits = ""
        let chars = Array(text.trimmingWhitespace())
        guard !chars.isEmpty else { return nil }
        var index = 0
        var sawUnit = false
        while index < chars.count {
            let char = chars[index]
            if char.isASCII, char.isNumber {
                digits.append(char)
                index += 1
                continue
            }
            guard let value = Int64(digits), digits.count <= 12 else { return nil }
            digits = ""
            let unit: Int64
            if char == "m", index + 1 < chars.count, chars[index + 1] == "s" {
                unit = 1
                index += 2
            } else {
                switch char {
                case "s": unit = 1000
                case "m": unit = 60_000
                case "h": unit = 3_600_000
                case "d": unit = 86_400_000
                default: return nil
                }
                index += 1
            }
            let (product, overflow) = value.multipliedReportingOverflow(by: unit)
            guard !overflow else { return nil }
            total += product
            sawUnit = true
        }
        // A bare number is seconds, as in systemd.
        if !digits.isEmpty {
            guard let value = Int64(digits), digits.count <= 12 else { return nil }
            total += value * 1000
            sawUnit = true
        }
        guard sawUnit, total > 0 else { return nil }
        return .milliseconds(total)
    }

    /// Prints `duration` in the same form: `1h30m`, `90ms`, `2d`.
    public static func format(_ duration: Duration) -> String {
        var millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if millis == 0 { return "0s" }
        var parts = ""
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
        where millis >= size {
            parts += "\(millis / size)\(unit)"
            millis %= size
        }
        return parts
    }
}
