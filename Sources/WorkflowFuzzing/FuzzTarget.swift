import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Schedules

/// What `make fuzz` feeds random bytes to, and what `make test` replays the kept corpus through.
///
/// Each target must never crash or hang, whatever the bytes; where a result can be checked
/// against a property (a next fire time lies after the time asked about), it is, and a
/// violation stops the process like a crash so the fuzzer keeps the input.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A job file: YAML, then the job format's parsing and validation.
    case jobFile = "job-file"
    /// A cron expression, and its next fire times in three zones.
    case cron
    /// A systemd calendar event, and its next elapse times in three zones.
    case calendar
    /// A `${{ … }}` template, and its rendering against a fixed set of values.
    case template
    /// A JSON Schema: compiled (meta-schema check included), then applied to a few instances.
    case schema
    /// A JSON document written by ``RecordJSON``: the same bytes as Foundation's encoder, and
    /// read back as the same value.
    case record
    /// A `when: ${{ … }}` condition: parsed, checked against a job, and evaluated on fixed values;
    /// one the checker passes never fails at run time on a kind the file told (only JSON values
    /// may surprise it).
    case condition

    public func run(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        switch self {
        case .jobFile:
            _ = try? JobParser().parse(text, path: "/fuzz/job.yaml")
        case .cron:
            guard let expression = try? CronExpression(parsing: text) else { return }
            checkEveryNextIsLater("cron '\(text)'") { expression.nextFire(after: $0, in: $1) }
        case .calendar:
            guard let event = try? CalendarEvent(parsing: text) else { return }
            checkEveryNextIsLater("calendar '\(text)'") { event.nextElapse(after: $0, in: $1) }
        case .template:
            guard let template = try? Template(parsing: text) else { return }
            _ = template.render(Self.values, item: .array([.string("x"), .number(1)]))
            _ = JSONValue.string(text).rendered(Self.values, item: .object(["k": .null]))
        case .schema:
            guard let document = JSONValue.parse(data), let schema = try? JSONSchema(document) else { return }
            for instance in [document, .null, .bool(true), .number(0), .string(""), .array([]), .object([:])] {
                _ = schema.validate(instance)
            }
        case .condition:
            guard let expression = try? ConditionExpression(parsing: text) else { return }
            let checked = (try? expression.check(in: Self.conditionContext)) != nil
            let outcome = expression.evaluate(in: Self.conditionScope)
            // `text` is the only step whose output the file tells (a string); JSON values (other
            // outputs, the item, list elements) may be of any kind.
            let json = ["fetch", "item", "lint", "[", "exists"].contains { text.contains($0) }
            if checked, outcome.value == nil, !json {
                fatalError("fuzz property violated: '\(text)' passed the checker and failed: \(outcome.error ?? "")")
            }
        case .record:
            // Read: RecordJSON's decoder reads what Foundation's reads, as the same value, for
            // documents that are objects or arrays, as records are (Foundation reads a bare
            // number next to a NUL byte, "1\0" or "\01", as that number; RecordJSON does not).
            let read = try? RecordJSON.decode(JSONValue.self, from: data)
            let container = data.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }).map {
                $0 == 0x7B || $0 == 0x5B
            }
            guard container != true || read == JSONValue.parse(data) else {
                fatalError(
                    "fuzz property violated: RecordJSON read \(read.map { "\($0)" } ?? "nothing") where Foundation read \(JSONValue.parse(data).map { "\($0)" } ?? "nothing")"
                )
            }
            guard let value = read else { return }
            let ours = try? RecordJSON.encode(value)
            let foundation = try? Timestamp.makeEncoder().encode(value)
            guard ours == foundation else {
                fatalError(
                    "fuzz property violated: RecordJSON wrote \(ours.map { String(decoding: $0, as: UTF8.self) } ?? "nothing") where Foundation wrote \(foundation.map { String(decoding: $0, as: UTF8.self) } ?? "nothing")"
                )
            }
            if let ours, JSONValue.parse(ours) != value {
                fatalError(
                    "fuzz property violated: RecordJSON's \(String(decoding: ours, as: UTF8.self)) does not read back as the value"
                )
            }
        }
    }

    static let conditionScope = ConditionScope(
        steps: [
            StepID("fetch")!: (.succeeded, .object(["items": .array([.number(1), .string("two")]), "n": .number(3)])),
            StepID("text")!: (.succeeded, .string("hello")), StepID("lint")!: (.failed, nil),
        ], params: ["who": "world"], run: RunID.make(at: Date(timeIntervalSince1970: 1_800_000_000), suffix: 1),
        trigger: .manual, job: JobID("fuzz")!, item: .object(["kind": .string("bug")]))

    static let conditionContext = ConditionContext(
        step: StepID("route")!,
        steps: [
            StepID("fetch")!: StepDefinition(id: StepID("fetch")!, run: "true"),
            StepID("text")!: StepDefinition(id: StepID("text")!, run: "true"),
            StepID("lint")!: StepDefinition(id: StepID("lint")!, run: "true"),
        ], upstream: [StepID("fetch")!, StepID("text")!, StepID("lint")!], params: ["who"], hasItem: true)

    /// The next time after each start, in each zone, is later than the start (or there is none).
    private func checkEveryNextIsLater(_ what: String, _ next: (Date, TimeZone) -> Date?) {
        for zone in Self.zones {
            for start in Self.starts {
                guard let time = next(start, zone), time <= start else { continue }
                fatalError("fuzz property violated: \(what) comes at \(time), not after \(start) in \(zone.identifier)")
            }
        }
    }

    static let zones = ["UTC", "Europe/Berlin", "America/Sao_Paulo"].compactMap(TimeZone.init(identifier:))
    /// Around a DST change in each of those zones, and a leap day.
    static let starts = [1_774_744_200, 1_792_371_600, 1_709_164_800].map { Date(timeIntervalSince1970: $0) }

    static let values = TemplateValues(
        outputs: [StepID("fetch")!: .object(["items": .array([.number(1), .string("two")]), "n": .number(3)])],
        params: ["who": "world"], run: RunID.make(at: Date(timeIntervalSince1970: 1_800_000_000), suffix: 0xabcdef),
        trigger: .manual, job: JobID("fuzz")!)
}
