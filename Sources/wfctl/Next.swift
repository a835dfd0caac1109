import ArgumentParser
import Foundation
import JSONSchemaKit
import JobFormat
import Schedules
import WorkflowStore

struct Next: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show when a schedule (or a job) fires next, like systemd-analyze calendar.",
        discussion: """
            TARGET is a schedule expression or a job id. A schedule that starts with @ and a \
            letter (@daily) or has 5 or 6 fields is cron; anything else is a systemd calendar event \
            as systemd 252 reads it (daily, Mon..Fri 09:00, Sat-Sun 10:00, *-*-01 02:30 \
            Europe/Berlin, @1767225600). Times are strictly after --from. An expression that \
            starts with '-' goes after '--', or it is taken for an option.

            Examples:
              wfctl next '0 9 * * MON-FRI' --tz Europe/Rome --count 3
              wfctl next 'Mon *-05~07/1' --json
              wfctl next backup
              wfctl next -- '-5 * * * *'

            --json prints {"expr", "normalized", "grammar", "timezone", "next": [RFC 3339 with \
            offset, …]}; for a job also "job", and "expr"/"normalized" list every schedule. \
            Exit codes: 0 ok, 65 an invalid expression (what is wrong and where), 1 no such job.
            """
    )

    @Argument(help: ArgumentHelp("A schedule expression or a job id.", valueName: "target"))
    var target: String

    @Option(
        help: ArgumentHelp("The zone to read the schedule in (default: the job's, else the host's).", valueName: "zone")
    )
    var tz: String?

    @Option(help: ArgumentHelp("Start after this RFC 3339 time (default: now).", valueName: "time"))
    var from: String?

    @Option(help: "How many fire times to show (1 to 1000).")
    var count: Int = 5

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var options: StateOptions

    struct Output: Codable {
        var job: String?
        var expr: [String]
        var normalized: [String]
        var grammar: [String]
        var timezone: String
        var next: [String]
    }

    func validate() throws {
        guard (1...1000).contains(count) else { throw ValidationError("--count must be from 1 to 1000") }
        if let tz, TimeZone(identifier: tz) == nil {
            throw ValidationError("unknown time zone '\(tz)': use an IANA name like Europe/Rome")
        }
        if let from, Timestamp.parse(from) == nil {
            throw ValidationError("--from '\(from)' is not an RFC 3339 time like 2026-01-31T12:00:00Z")
        }
    }

    func run() throws {
        let start = from.flatMap(Timestamp.parse) ?? Date()
        var schedules: [Schedule] = []
        var zoneName = tz
        var jobName: String?
        if let id = JobID(target), let info = try? RecordFile.read(JobInfo.self, from: options.directory.jobInfo(id)) {
            jobName = id.rawValue
            schedules = info.schedules.compactMap { try? Schedule(parsing: $0) }
            zoneName = zoneName ?? info.timezone
            guard !schedules.isEmpty else {
                throw CommandFailure(
                    description: "job '\(id)' has no schedule: it only runs when started by hand", code: .failed)
            }
        } else {
            do {
                schedules = [try Schedule(parsing: target)]
            } catch {
                let caret = String(repeating: " ", count: error.offset + 2) + "^"
                throw CommandFailure(
                    description: "invalid schedule '\(target)': \(error.message)\n  \(target)\n\(caret)\n"
                        + (JobID(target) != nil ? "(no job '\(target)' in \(options.directory.root) either)" : ""),
                    code: .badData)
            }
        }
        let zone = zoneName.flatMap(TimeZone.init(identifier:)) ?? .current
        var times: [Date] = []
        var cursor = start
        while times.count < count {
            guard let next = schedules.compactMap({ $0.nextFire(after: cursor, in: zone) }).min() else { break }
            times.append(next)
            cursor = next
        }
        // A calendar event with its own zone is shown in that zone.
        var shownZone = zone
        if schedules.count == 1, case .calendar(let event) = schedules[0].kind,
            let own = event.timeZone.flatMap(TimeZone.init(identifier:))
        {
            shownZone = own
        }
        let output = Output(
            job: jobName, expr: schedules.map(\.description), normalized: schedules.map(\.normalized),
            grammar: schedules.map(\.grammar), timezone: shownZone.identifier,
            next: times.map { Timestamp.rfc3339($0, in: shownZone) })
        if json {
            var data = try Timestamp.makeEncoder().encode(output)
            if jobName == nil {  // a single expression: plain strings rather than lists
                let single: [String: JSONValue] = [
                    "expr": .string(output.expr[0]), "normalized": .string(output.normalized[0]),
                    "grammar": .string(output.grammar[0]), "timezone": .string(output.timezone),
                    "next": .array(output.next.map(JSONValue.string)),
                ]
                data = try Timestamp.makeEncoder().encode(single)
            }
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        if let jobName { print("            Job: \(jobName)") }
        for schedule in schedules {
            print("  Original form: \(schedule.description)")
            print("Normalized form: \(schedule.normalized) (\(schedule.grammar))")
        }
        print("      Time zone: \(shownZone.identifier)")
        if times.isEmpty { print("    Next elapse: never") }
        for (index, time) in times.enumerated() {
            let label = index == 0 ? "Next elapse" : "Iter. #\(index + 1)"
            print(
                String(repeating: " ", count: max(0, 15 - label.count)) + label + ": "
                    + Timestamp.rfc3339(time, in: shownZone))
        }
    }
}
