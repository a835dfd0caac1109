import Foundation
import Schedules
import Yams

/// Turns the text of a job file into a ``Job``, or into every problem found in it at once.
///
/// The parser walks the YAML node tree itself (rather than `Codable`) so that every diagnostic
/// carries a line and column, unknown keys are reported instead of ignored, and references
/// (`needs`, templates, secrets) are checked before anything runs.
public struct JobParser: Sendable {
    /// The largest job file accepted, in bytes.
    public static let maximumFileSize = 1 << 20
    /// The most YAML nodes a file may expand to (aliases count each time they are used).
    public static let maximumNodes = 200_000

    static let jobKeys = [
        "description", "schedule", "timezone", "catchup", "jitter", "concurrency", "timeout", "budget", "daily_budget",
        "on_budget", "prices", "params", "env", "secrets", "enabled", "retention", "max_parallel", "steps",
        "executor", "sandbox", "resources", "on",
    ]

    public init() {}

    /// The job id a file name stands for (`hello.yaml` → `hello`), or nil when it is not a valid id.
    public static func jobID(forFileName name: String) -> JobID? {
        let base: Substring
        if let dot = name.lastIndex(of: ".") { base = name[..<dot] } else { base = Substring(name) }
        return JobID(String(base))
    }

    /// File names wfd reads from `jobs.d/`.
    public static func isJobFileName(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.hasSuffix(".json"))
    }

    /// Parses `text`, the contents of the file at `path`.
    ///
    /// - Throws: ``JobFileError`` with every diagnostic, each naming `path`, line and column.
    public func parse(_ text: String, path: String) throws(JobFileError) -> Job {
        let fileName = PathName.last(path)
        var reader = JobReader(path: path)
        let jobID = JobParser.jobID(forFileName: fileName)
        if jobID == nil {
            reader.report(line: 1, column: 1, "invalid job file name '\(fileName)'", hint: JobID.rule)
        }
        guard text.utf8.count <= Self.maximumFileSize else {
            throw JobFileError([
                Diagnostic(
                    file: path, line: 1, column: 1, message: "the file is larger than 1 MiB",
                    hint: "a job file describes steps; keep data and scripts in files of their own")
            ])
        }
        let root: Node?
        do {
            root = try PlainScalar.compose(text)
        } catch let error as YamlError {
            throw JobFileError([reader.diagnostic(for: error, text: text)])
        } catch {
            throw JobFileError([Diagnostic(file: path, line: 1, column: 1, message: "cannot read YAML: \(error)")])
        }
        guard let root, case .mapping(let mapping) = root else {
            throw JobFileError([
                Diagnostic(
                    file: path, line: root?.mark?.line ?? 1, column: root?.mark?.column ?? 1,
                    message: "a job file must be a mapping with 'steps' (and usually 'schedule')",
                    hint: "start from: schedule: \"*/10 * * * *\" and steps: [{id: hello, run: echo hello}]")
            ])
        }
        // Without an anchor there is no alias, and a text of n bytes has under 2n nodes.
        let mayExpand = text.utf8.count * 2 >= Self.maximumNodes || text.utf8.contains(UInt8(ascii: "&"))
        guard !mayExpand || expandedSize(root, limit: Self.maximumNodes) < Self.maximumNodes else {
            throw JobFileError([
                Diagnostic(
                    file: path, line: 1, column: 1,
                    message: "the file expands to more than \(Self.maximumNodes) YAML nodes",
                    hint: "YAML aliases (*name) that repeat each other multiply; write the values out")
            ])
        }
        let job = reader.job(mapping, id: jobID)
        guard reader.diagnostics.isEmpty, let job else {
            throw JobFileError(reader.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return job
    }
}

extension JobReader {
    func diagnostic(for error: YamlError, text: String) -> Diagnostic {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text), " } ?? ""
            let line = mark.line >= 1 && mark.line <= lines.count ? lines[mark.line - 1] : ""
            let tab = line.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t")
            var hint: String? = tab ? "indent with spaces, not tabs" : nil
            if hint == nil, problem.contains("mapping values are not allowed") {
                // The usual cause: a ': ' inside a value that is not quoted (a shell command, a message).
                hint = "a value with ': ' in it must be quoted: key: 'echo \"a: b\"'"
            }
            return Diagnostic(
                file: path, line: mark.line, column: mark.column, message: "YAML syntax error: \(prefix)\(problem)",
                hint: hint)
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Point at the second occurrence: the mapping's mark is where it starts.
            var line = context.mark.line
            var column = context.mark.column
            if let key = duplicates.first {
                var seen = false
                for (index, content) in lines.enumerated() where index + 1 >= context.mark.line {
                    let indent = content.prefix(while: { $0 == " " }).count
                    let rest = content.dropFirst(indent).drop(while: { $0 == "-" || $0 == " " })
                    guard rest.hasPrefix("\(key):") || rest.hasPrefix("\"\(key)\":") || rest.hasPrefix("'\(key)':")
                    else { continue }
                    if seen {
                        line = index + 1
                        column = content.count - rest.count + 1
                        break
                    }
                    seen = true
                }
            }
            return Diagnostic(
                file: path, line: line, column: column,
                message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", "))",
                hint: "each key may appear once in a mapping")
        default:
            return Diagnostic(file: path, line: 1, column: 1, message: "YAML error: \(error)")
        }
    }

    /// The keys of a step that a job does not have, and where they belong.
    static let stepOnlyKeys = Dictionary(
        uniqueKeysWithValues: stepKeys.filter { !JobParser.jobKeys.contains($0) }.map { ($0, "a step under 'steps'") })

    mutating func job(_ mapping: Node.Mapping, id: JobID?) -> Job? {
        let fields = fields(mapping, allowed: JobParser.jobKeys, in: "a job", elsewhere: Self.stepOnlyKeys)
        var job = Job(id: id ?? .placeholder, steps: [])
        if let (_, node) = fields["description"] { job.description = string(node, "description") }
        if let (_, node) = fields["schedule"] { job.schedules = schedules(node) }
        if let (_, node) = fields["timezone"], let text = string(node, "timezone") {
            if TimeZone(identifier: text) == nil {
                let known = TimeZone.knownTimeZoneIdentifiers
                let hint =
                    closest(text, among: known).map { "did you mean '\($0)'?" }
                    ?? "use an IANA name such as Europe/Rome or UTC"
                report(node, "unknown time zone '\(text)'", hint: hint)
            } else {
                job.timezone = text
            }
        }
        if let (_, node) = fields["catchup"], let value = choice(node, "catchup", CatchupPolicy.self) {
            job.catchup = value
        }
        if let (_, node) = fields["jitter"] { job.jitter = duration(node, "jitter") }
        if let (_, node) = fields["concurrency"], let value = choice(node, "concurrency", ConcurrencyPolicy.self) {
            job.concurrency = value
        }
        if let (_, node) = fields["timeout"] { job.timeout = duration(node, "timeout") }
        if let (_, node) = fields["budget"] { job.budget = budget(node, "budget") }
        if let (_, node) = fields["daily_budget"] { job.dailyBudget = budget(node, "daily_budget") }
        if let (_, node) = fields["on_budget"] { job.onBudget = choice(node, "on_budget", BudgetAction.self) }
        if let (_, node) = fields["prices"] { job.prices = prices(node) }
        if let (_, node) = fields["params"] { job.params = params(node) }
        if let (_, node) = fields["env"] { job.env = environment(node) }
        if let (_, node) = fields["secrets"] { job.secrets = secrets(node) }
        if let (_, node) = fields["enabled"], let value = bool(node, "enabled") { job.enabled = value }
        if let (_, node) = fields["executor"] { job.executor = choice(node, "executor", ExecutorKind.self) }
        if let (_, node) = fields["sandbox"] { job.sandbox = sandbox(node).map(Indirect.init) }
        if let (_, node) = fields["resources"] { job.resources = resources(node).map(Indirect.init) }
        if let (_, node) = fields["retention"] { job.retention = retention(node) }
        if let (_, node) = fields["on"] { job.triggers = triggers(node, job: &job) }
        if let (_, node) = fields["max_parallel"], let count = int(node, "max_parallel", range: 1...1000) {
            job.maxParallel = count
        }
        if let (_, node) = fields["steps"] {
            job.steps = stepList(node)
        } else {
            report(
                line: 1, column: 1, "missing required key 'steps'", hint: "add steps: [{id: hello, run: echo hello}]")
        }
        check(job, stepNodes: stepNodesByID(mapping))
        guard id != nil else { return nil }
        return job
    }

    mutating func schedules(_ node: Node) -> [Schedule] {
        guard let items = stringList(node, "schedule") else { return [] }
        var result: [Schedule] = []
        for (text, item) in items {
            do {
                result.append(try Schedule(parsing: text))
            } catch {
                report(
                    position(in: item, offset: error.offset), "invalid schedule '\(text)': \(error.message)",
                    hint:
                        "cron has 5 fields (minute hour day-of-month month day-of-week) or 6 with leading seconds; a calendar event looks like 'Mon..Fri 09:00' or 'daily'; try: wfctl next 'EXPR'"
                )
            }
        }
        if case .sequence(let sequence) = node, sequence.isEmpty {
            report(node, "'schedule' is an empty list", hint: "leave 'schedule' out for a job that only runs by hand")
        }
        return result
    }

    mutating func budget(_ node: Node, _ key: String) -> Budget? {
        guard let mapping = mapping(node, key, example: "\(key): { usd: 2.00, tokens: 400000 }") else {
            return nil
        }
        let fields = fields(mapping, allowed: ["usd", "tokens"], in: "'\(key)'")
        var budget = Budget()
        if let (_, value) = fields["usd"],
            let usd = number(value, "\(key).usd", range: -Double.greatestFiniteMagnitude...1_000_000)
        {
            if usd > 0 {
                budget.usd = usd
            } else {
                report(value, "'\(key).usd' must be more than 0, not \(JobReader.format(usd))")
            }
        }
        if let (_, value) = fields["tokens"] {
            budget.tokens = int(value, "\(key).tokens", range: 1...1_000_000_000_000)
        }
        if fields.isEmpty { report(node, "'\(key)' is empty", hint: "give usd, tokens or both") }
        return budget
    }

    /// `prices: { MODEL: { input: 0.15, output: 0.60 } }`: US dollars per million tokens.
    mutating func prices(_ node: Node) -> [String: ModelPrice]? {
        guard let entries = mapping(node, "prices", example: "prices: { my-model: { input: 0.15, output: 0.60 } }")
        else { return nil }
        var result: [String: ModelPrice] = [:]
        for (key, value) in entries {
            guard let model = string(key, "a model name") else { continue }
            guard let mapping = mapping(value, "prices.\(model)", example: "\(model): { input: 0.15, output: 0.60 }")
            else { continue }
            let fields = fields(mapping, allowed: ["input", "output"], in: "'prices.\(model)'")
            let input = fields["input"].flatMap { number($0.value, "input", range: 0...1_000_000) }
            let output = fields["output"].flatMap { number($0.value, "output", range: 0...1_000_000) }
            for name in ["input", "output"] where fields[name] == nil {
                report(value, "'prices.\(model)' is missing '\(name)'", hint: "US dollars per million tokens")
            }
            if let input, let output { result[model] = ModelPrice(input: input, output: output) }
        }
        return result
    }

    mutating func params(_ node: Node) -> [String: ParamSpec] {
        guard let entries = mapping(node, "params", example: "params: { release: { default: latest } }") else {
            return [:]
        }
        var result: [String: ParamSpec] = [:]
        for (nameNode, value) in entries {
            guard let name = nameNode.scalar?.string, JobReader.NameRule.environment.problem(name) == nil else {
                report(
                    nameNode, "invalid parameter name \(JobReader.describe(nameNode))",
                    hint: "use [A-Za-z_][A-Za-z0-9_]*")
                continue
            }
            var spec = ParamSpec()
            if case .scalar(let scalar) = value, scalar.tagName == .null {
                result[name] = spec
                continue
            }
            guard
                let fieldsMapping = mapping(value, "params.\(name)", example: "\(name): { default: x, description: … }")
            else { continue }
            let fields = fields(
                fieldsMapping, allowed: ["default", "required", "description"], in: "parameter '\(name)'")
            if let (_, item) = fields["default"] {
                if case .scalar(let scalar) = item, scalar.tagName != .null {
                    spec.defaultValue = scalar.string
                } else {
                    report(
                        item,
                        "the default of '\(name)' must be a string, number or boolean, not \(JobReader.describe(item))")
                }
            }
            if let (_, item) = fields["required"], let flag = bool(item, "required") { spec.required = flag }
            if let (_, item) = fields["description"] { spec.description = string(item, "description") }
            if spec.required, spec.defaultValue != nil {
                report(
                    value, "parameter '\(name)' is required and has a default",
                    hint: "drop one: a default makes it optional")
            }
            result[name] = spec
        }
        return result
    }

    mutating func secrets(_ node: Node) -> [String] {
        guard let items = stringList(node, "secrets") else { return [] }
        var result: [String] = []
        for (name, item) in items {
            guard Self.isCredentialName(name) else {
                report(
                    item, "invalid secret name '\(name)'",
                    hint: "a systemd credential name: letters, digits, '_', '.', '-'")
                continue
            }
            if result.contains(name) { report(item, "secret '\(name)' is listed twice") } else { result.append(name) }
        }
        return result
    }

    mutating func retention(_ node: Node) -> Retention? {
        guard let mapping = mapping(node, "retention", example: "retention: { keep_runs: 100, keep_days: 30 }") else {
            return nil
        }
        let fields = fields(mapping, allowed: ["keep_runs", "keep_days"], in: "'retention'")
        var retention = Retention()
        if let (_, value) = fields["keep_runs"] { retention.keepRuns = int(value, "keep_runs", range: 1...10_000_000) }
        if let (_, value) = fields["keep_days"] { retention.keepDays = int(value, "keep_days", range: 1...36_500) }
        return retention
    }

    func stepNodesByID(_ mapping: Node.Mapping) -> [StepID: Node] {
        guard case .sequence(let sequence)? = mapping["steps"] else { return [:] }
        var result: [StepID: Node] = [:]
        for item in sequence {
            if case .mapping(let step) = item, let text = step["id"]?.scalar?.string, let id = StepID(text) {
                result[id] = result[id] ?? item
            }
        }
        return result
    }
}

extension JobID {
    /// The id a job with an invalid file name is read under, so its other problems are still reported.
    static let placeholder: JobID = {
        guard let id = JobID("invalid") else { preconditionFailure("'invalid' is a valid job id") }
        return id
    }()
}
