import ArgumentParser
import Foundation
import JSONSchemaKit
import JobFormat
import WorkflowControl
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

/// The jobs directory wfctl writes drafts into: --jobs, else $WFD_JOBS_DIR, else /etc/wfd/jobs.d.
struct JobsDirectoryOption: ParsableArguments {
    @Option(
        name: .customLong("jobs"),
        help: ArgumentHelp("The jobs directory (default: $WFD_JOBS_DIR, else /etc/wfd/jobs.d).", valueName: "dir"))
    var given: String?

    var directory: String {
        given ?? ProcessInfo.processInfo.environment["WFD_JOBS_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "/etc/wfd/jobs.d"
    }

    /// `pending/` in it: drafts wfd never loads.
    var pending: String { directory + "/pending" }

    /// Writes `text` as the draft of `job` (durably, mode 0644); its path.
    func writeDraft(_ text: String, job: String) throws -> String {
        let path = "\(pending)/\(job).yaml"
        do {
            try FileManager.default.createDirectory(atPath: pending, withIntermediateDirectories: true)
            try RecordFile.write(Data(text.utf8), to: path)
            chmod(path, 0o644)
        } catch {
            throw CommandFailure(description: "cannot write \(path): \(error)", code: .failed)
        }
        return path
    }
}

struct Draft: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Have a model write a job file from a description, checked by wfd's parser, into jobs.d/pending/.",
        discussion: """
            wfd asks the model (with the job schema, as wfctl schema prints it) for the file, checks \
            the answer as it loads job files, and sends every problem back with its line and column \
            for a corrected file, up to --repairs times. The file is written to \
            jobs.d/pending/JOB.yaml, which wfd never loads: read it, try it with wfctl validate, \
            then wfctl promote JOB moves it in. The model's key is a credential of wfd's \
            (--api-key-secret, as api_key_secret in a job).

            Examples:
              wfctl draft nightly-report "Every weekday at 7:00 fetch yesterday's orders from \
            https://shop.example/api/orders and mail a summary to ops@example.com" --api-key-secret openai_key
              wfctl draft triage "..." --provider anthropic --model claude-sonnet-4-5 --api-key-secret anthropic_key

            Exit codes: 0 a valid draft written, 65 the draft is still invalid (written, with its \
            problems printed), 1 the model could not be asked, 69 wfd is not running.
            """
    )

    @Argument(help: ArgumentHelp("The new job's id (its file name).", valueName: "job")) var job: String
    @Argument(help: ArgumentHelp("What the job should do.", valueName: "description")) var description: String

    @Option(help: ArgumentHelp("openai (or any server compatible with it) or anthropic.", valueName: "provider"))
    var provider = "openai"
    @Option(help: ArgumentHelp("The model.", valueName: "model")) var model = "gpt-4o-mini"
    @Option(name: .customLong("base-url"), help: ArgumentHelp("The API's base URL.", valueName: "url"))
    var baseURL: String?
    @Option(
        name: .customLong("api-key-secret"),
        help: ArgumentHelp("The credential of wfd's with the model's API key.", valueName: "name"))
    var apiKeySecret: String?
    @Option(help: ArgumentHelp("How many corrections the model may make.", valueName: "n")) var repairs = 3

    @Flag(help: "Print the outcome as JSON: {text, valid, diagnostics, rounds, tokens, cost_usd, file}.")
    var json = false

    @OptionGroup var jobs: JobsDirectoryOption
    @OptionGroup var daemon: DaemonOptions
    @OptionGroup var options: StateOptions

    func validate() throws {
        guard JobID(job) != nil else { throw ValidationError("'\(job)' is not a job id: \(JobID.rule)") }
        guard ["openai", "anthropic"].contains(provider) else {
            throw ValidationError("--provider is openai or anthropic, not '\(provider)'")
        }
        guard (0...10).contains(repairs) else { throw ValidationError("--repairs takes 0 to 10") }
        guard !description.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("say what the job should do")
        }
    }

    func run() throws {
        guard let jobID = JobID(job) else { return }
        let choice = ModelChoice(provider: provider, model: model, baseURL: baseURL, apiKeySecret: apiKeySecret)
        let response = try sendToDaemon(
            .draft(jobID, description: description, model: choice, repairs: repairs), state: options.directory,
            socket: daemon.socket, timeout: .seconds(960))
        guard response.ok else { throw CommandFailure(description: response.message, code: response.exitCode) }
        guard case .object(var outcome)? = JSONValue.parse(Data(response.message.utf8)),
            case .string(let text)? = outcome["text"]
        else { throw CommandFailure(description: "wfd's answer is not a draft", code: .failed) }
        let path = try jobs.writeDraft(text, job: job)
        outcome["file"] = .string(path)
        let valid = outcome["valid"] == .bool(true)
        if json {
            print(JSONValue.object(outcome).jsonText)
        } else {
            let rounds = outcome["rounds"]?.integerValue ?? 0
            print(
                "wrote \(path) (\(rounds) answer\(rounds == 1 ? "" : "s") from \(model)): "
                    + (valid ? "valid; read it, then wfctl promote \(job)" : "still invalid:"))
            if case .array(let problems)? = outcome["diagnostics"], !valid {
                for problem in problems { print("  \(problem.stringValue ?? "")") }
            }
        }
        if !valid { throw ExitCode(WfctlExit.badData.rawValue) }
    }
}

struct Promote: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a draft from jobs.d/pending/ into jobs.d, once it is valid: wfd loads it then.",
        discussion: """
            The draft is checked as wfd loads job files (the YAML, every key, schedules, templates, \
            and that the file is not writable by group or others); an invalid one stays where it \
            is, with its problems printed. The move is a rename within the jobs directory: wfd \
            sees the whole file or none of it. A job that exists already is replaced only with \
            --replace.

            Examples:
              wfctl promote nightly-report
              wfctl promote triage --replace

            Exit codes: 0 promoted, 1 no such draft or the job exists, 65 the draft is invalid.
            """
    )

    @Argument(help: ArgumentHelp("The draft's job id.", valueName: "job")) var job: String
    @Flag(help: "Replace the job's file if it exists.") var replace = false
    @OptionGroup var jobs: JobsDirectoryOption

    func validate() throws {
        guard JobID(job) != nil else { throw ValidationError("'\(job)' is not a job id: \(JobID.rule)") }
    }

    func run() throws {
        let draft = "\(jobs.pending)/\(job).yaml"
        guard FileManager.default.fileExists(atPath: draft) else {
            let waiting = ((try? FileManager.default.contentsOfDirectory(atPath: jobs.pending)) ?? [])
                .filter(JobParser.isJobFileName).sorted()
            throw CommandFailure(
                description:
                    "no draft \(draft) (drafts: \(waiting.isEmpty ? "none" : waiting.joined(separator: ", ")))",
                code: .failed)
        }
        do {
            _ = try JobFileReader().load(draft)
        } catch {
            for diagnostic in error.diagnostics { FileHandle.standardError.write(Data("\(diagnostic)\n".utf8)) }
            throw CommandFailure(description: "\(draft) is not valid: it stays a draft", code: .badData)
        }
        let target = "\(jobs.directory)/\(job).yaml"
        for other in ["yaml", "yml", "json"]
        where FileManager.default.fileExists(atPath: "\(jobs.directory)/\(job).\(other)") {
            guard replace, other == "yaml" else {
                throw CommandFailure(
                    description:
                        "job '\(job)' exists (\(jobs.directory)/\(job).\(other)): give --replace to replace it",
                    code: .failed)
            }
        }
        guard rename(draft, target) == 0 else {
            throw CommandFailure(
                description: "cannot move \(draft) to \(target): \(String(cString: strerror(errno)))", code: .failed)
        }
        try? RecordFile.syncDirectory(jobs.directory)
        try? RecordFile.syncDirectory(jobs.pending)
        print("promoted \(target): wfd loads it now (it watches \(jobs.directory)); see wfctl status")
    }
}
