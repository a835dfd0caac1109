import ArgumentParser
import Foundation
import JobFormat
import Schedules

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check job files and report every problem with its line and column.",
        discussion: """
            PATH is a job file or a directory of them (default: $WFD_JOBS_DIR, else /etc/wfd/jobs.d). \
            Files are checked as wfd loads them: the YAML, every key and value, schedules, 'needs' \
            (unknown steps, cycles), templates, and that the file is a regular file owned by root or \
            you and not writable by group or others.

            Exit codes: 0 all valid, 65 a file is invalid.

            Examples:
              wfctl validate
              wfctl validate ./draft.yaml
              wfctl validate --json jobs.d | jq '.files[] | select(.valid | not)'
            """
    )

    @Argument(help: ArgumentHelp("Job files or directories.", valueName: "path"))
    var paths: [String] = []

    @Flag(help: "Print the result as JSON: {\"valid\", \"files\": [{\"file\", \"job\", \"valid\", \"diagnostics\"}]}.")
    var json = false

    typealias FileResult = JobFileCheck

    struct Report: Codable {
        var valid: Bool
        var files: [FileResult]
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let targets =
            paths.isEmpty ? [environment["WFD_JOBS_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/etc/wfd/jobs.d"] : paths
        let reader = JobFileReader()
        var results: [FileResult] = []
        for target in targets {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) else {
                results.append(
                    FileResult(
                        file: target, valid: false,
                        diagnostics: [
                            Diagnostic(file: target, line: 0, column: 0, message: "no such file or directory")
                        ]))
                continue
            }
            let files: [String]
            if isDirectory.boolValue {
                switch JobFileReader.jobFiles(in: target) {
                case .success(let found): files = found
                case .failure(let error):
                    results.append(FileResult(file: target, valid: false, diagnostics: error.diagnostics))
                    continue
                }
            } else {
                files = [target]
            }
            var loaded: [(job: Job, file: String)] = []
            for file in files {
                do {
                    let job = try reader.load(file)
                    loaded.append((job, file))
                    results.append(FileResult(file: file, job: job.id.rawValue, valid: true, diagnostics: []))
                } catch {
                    let id = JobParser.jobID(forFileName: PathName.last(file))?.rawValue
                    results.append(FileResult(file: file, job: id, valid: false, diagnostics: error.diagnostics))
                }
            }
            // Files that are valid alone can still start each other for ever: wfd refuses them.
            for cycle in Triggers.cycles(in: loaded.map(\.job)) {
                for (job, file) in loaded where cycle.contains(job.id) {
                    guard let index = results.firstIndex(where: { $0.file == file }) else { continue }
                    results[index].valid = false
                    results[index].diagnostics.append(Triggers.cycleDiagnostic(cycle, file: file))
                }
            }
        }
        let report = Report(valid: results.allSatisfy(\.valid), files: results)
        if json {
            let data = try Timestamp.makeEncoder().encode(report)
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            for result in results {
                for diagnostic in result.diagnostics {
                    FileHandle.standardError.write(Data("\(diagnostic)\n".utf8))
                }
            }
            let invalid = results.filter { !$0.valid }.count
            if results.isEmpty {
                print("no job files found in \(targets.joined(separator: ", "))")
            } else if invalid == 0 {
                print("ok: \(results.count) job file\(results.count == 1 ? "" : "s") valid")
            } else {
                print("\(invalid) of \(results.count) job file\(results.count == 1 ? "" : "s") invalid")
            }
        }
        if !report.valid { throw ExitCode(WfctlExit.badData.rawValue) }
    }
}

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema (draft 2020-12) of job files, for editors and LLMs.",
        discussion: """
            The schema says what the parser checks wherever JSON Schema can; 'wfctl validate' also \
            checks what it cannot (cron fields, time zones, 'needs' references, cycles, templates).

            Example (VS Code YAML extension, first line of a job file):
              # yaml-language-server: $schema=/etc/wfd/job.schema.json

            It is always JSON. Exit codes: 0 printed.
            """
    )

    func run() throws {
        print(JobSchema.text)
    }
}
