import Yams

/// `on:`: what starts a run of the job besides its schedule and `wfctl run`: a webhook, files
/// appearing or changing, another job's runs ending.
public struct Triggers: Sendable, Equatable, Codable {
    public var webhook: WebhookTrigger?
    /// `path:`: files or globs (a glob only in the last part) whose appearing or changing starts a run.
    public var paths: [String]
    /// `debounce:`: how long the files must be quiet before the run starts (default 1 s).
    public var debounce: TimeSpan?
    /// `job:`: the jobs whose runs, ending in one of ``states``, start a run of this one.
    public var jobs: [JobID]
    /// `states:` (default succeeded): the end states of those runs that count.
    public var states: [String]

    /// The run states `states:` may name.
    public static let endStates = ["succeeded", "failed", "cancelled", "timed_out"]
    public static let defaultDebounce = TimeSpan(milliseconds: 1000)

    public init(webhook: WebhookTrigger? = nil, paths: [String] = [], jobs: [JobID] = [], states: [String] = []) {
        self.webhook = webhook
        self.paths = paths
        self.jobs = jobs
        self.states = states.isEmpty ? ["succeeded"] : states
    }

    /// Each trigger in a few words, for status: `webhook (github)`, `path /srv/in/*.csv`,
    /// `job build (succeeded)`.
    public var descriptions: [String] {
        var result: [String] = []
        if let webhook {
            result.append("webhook (\(webhook.verify.rawValue)\(webhook.mode == .observe ? ", observe" : ""))")
        }
        result += paths.map { "path \($0)" }
        result += jobs.map { "job \($0) (\(states.joined(separator: ", ")))" }
        return result
    }

    /// The quiet time before a path trigger fires.
    public var quietTime: TimeSpan { debounce ?? Self.defaultDebounce }

    enum CodingKeys: String, CodingKey {
        case webhook, paths, debounce, jobs, states
    }
}

/// `on: { webhook: … }`: `POST /hooks/<job>` on wfd-web starts a run, once its sender is verified.
public struct WebhookTrigger: Sendable, Equatable, Codable {
    /// How a delivery proves where it comes from. Stored as its raw string.
    public enum Verification: String, Sendable, Codable, CaseIterable {
        /// GitHub's `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body, hex>`.
        case github
        /// HMAC-SHA256 of the body, hex (optionally after `sha256=`), in the header `signature_header`.
        case hmac
        /// `Authorization: Bearer <secret>`.
        case bearer
    }

    /// What a delivery that fails verification does. Stored as its raw string.
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// It is refused (401).
        case enforce
        /// It is let through, and what would have refused it is logged: for rolling out.
        case observe
    }

    public var verify: Verification
    /// The systemd credential that holds the shared secret.
    public var secret: String
    public var mode: Mode
    /// For `hmac`: the header with the signature (default `X-Signature-256`).
    public var signatureHeader: String?
    /// The header whose value identifies a delivery (a redelivery starts no second run); default
    /// `X-GitHub-Delivery` for `github`, else `Idempotency-Key`.
    public var deliveryHeader: String?
    /// Headers passed on to the run (`trigger.headers`), lower-case; never `authorization`.
    public var headers: [String]
    /// The largest payload taken, in bytes (default 256 KiB, at most 1 MiB).
    public var maxBytes: Int
    /// `filter:`: a condition over `trigger` (the `when:` language); false answers 204 and starts nothing.
    public var filter: String?

    public static let defaultMaxBytes = 256 * 1024
    public static let largestMaxBytes = 1 << 20

    public init(verify: Verification, secret: String) {
        self.verify = verify
        self.secret = secret
        mode = .enforce
        headers = []
        maxBytes = Self.defaultMaxBytes
    }

    /// The header that names a delivery, lower-case.
    public var deliveryHeaderName: String {
        (deliveryHeader ?? (verify == .github ? "X-GitHub-Delivery" : "Idempotency-Key")).lowercased()
    }

    /// The header that carries the signature, lower-case.
    public var signatureHeaderName: String {
        switch verify {
        case .github: "x-hub-signature-256"
        case .hmac: (signatureHeader ?? "X-Signature-256").lowercased()
        case .bearer: "authorization"
        }
    }

    enum CodingKeys: String, CodingKey {
        case verify, secret, mode, headers, filter
        case signatureHeader = "signature_header"
        case deliveryHeader = "delivery_header"
        case maxBytes = "max_bytes"
    }
}

extension Triggers {
    /// Each cycle of `on: { job: … }` among the enabled `jobs`, as the path around it (`a`, `b`,
    /// `a`): jobs that would start each other for ever.
    public static func cycles(in jobs: [Job]) -> [[JobID]] {
        var upstreams: [JobID: [JobID]] = [:]
        for job in jobs where job.enabled { upstreams[job.id] = job.triggers?.jobs ?? [] }
        var state: [JobID: Int] = [:]  // 1: on the path, 2: done
        var path: [JobID] = []
        var found: [[JobID]] = []
        func visit(_ id: JobID) {
            state[id] = 1
            path.append(id)
            for next in upstreams[id] ?? [] where upstreams[next] != nil {
                switch state[next] {
                case 1?:
                    if let start = path.firstIndex(of: next) { found.append(Array(path[start...]) + [next]) }
                case nil: visit(next)
                default: break
                }
            }
            path.removeLast()
            state[id] = 2
        }
        for id in upstreams.keys.sorted() where state[id] == nil { visit(id) }
        return found
    }

    /// The diagnostic of a job in a cycle.
    public static func cycleDiagnostic(_ cycle: [JobID], file: String) -> Diagnostic {
        Diagnostic(
            file: file, line: 1, column: 1,
            message: "cycle of 'on: job' triggers: \(cycle.map(\.rawValue).joined(separator: " -> "))",
            hint: "a job cannot be started by its own runs, directly or through others: remove one 'job:'")
    }
}

extension Job {
    /// Whether anything but its schedule and a person starts the job's runs.
    public var isTriggered: Bool {
        guard let on = triggers else { return false }
        return on.webhook != nil || !on.paths.isEmpty || !on.jobs.isEmpty
    }
}

extension JobReader {
    static let triggerKeys = ["webhook", "path", "debounce", "job", "states"]
    static let webhookKeys = [
        "verify", "secret", "mode", "signature_header", "delivery_header", "headers", "max_bytes", "filter",
    ]

    /// `on:`, with every problem reported.
    mutating func triggers(_ node: Node, job: inout Job) -> Triggers? {
        guard
            let mapping = mapping(
                node, "on", example: "on: { webhook: { secret: github_webhook } } (or path: …, or job: …)")
        else { return nil }
        let fields = fields(mapping, allowed: Self.triggerKeys, in: "'on'")
        var result = Triggers()
        if let (_, value) = fields["webhook"] { result.webhook = webhook(value) }
        if let (_, value) = fields["path"], let items = stringList(value, "path") {
            for (text, item) in items {
                if let problem = Self.pathProblem(text) {
                    report(
                        item, "invalid path '\(text)': \(problem)",
                        hint: "an absolute path; '*' and '?' in its last part only")
                } else {
                    result.paths.append(text)
                }
            }
        }
        if let (key, value) = fields["debounce"] {
            if fields["path"] == nil { report(key, "'debounce' is for 'path'", hint: "add path: /srv/inbox/*.csv") }
            result.debounce = duration(value, "debounce")
        }
        if let (_, value) = fields["job"], let items = stringList(value, "job") {
            for (text, item) in items {
                if let id = JobID(text) {
                    if id == job.id {
                        report(item, "job '\(text)' cannot be started by its own runs", hint: JobID.rule)
                    } else {
                        result.jobs.append(id)
                    }
                } else {
                    report(item, "'\(text)' is not a job id", hint: JobID.rule)
                }
            }
        }
        if let (key, value) = fields["states"] {
            if fields["job"] == nil { report(key, "'states' is for 'job'", hint: "add job: build") }
            var states: [String] = []
            for (text, item) in stringList(value, "states") ?? [] {
                if Triggers.endStates.contains(text) {
                    states.append(text)
                } else {
                    let hint = closest(text, among: Triggers.endStates).map { "did you mean '\($0)'?" }
                    report(
                        item, "'\(text)' is not a state a run ends in",
                        hint: hint ?? "one of \(Triggers.endStates.joined(separator: ", "))")
                }
            }
            if !states.isEmpty { result.states = states }
        }
        if fields.isEmpty {
            report(node, "'on' is empty", hint: "give webhook, path or job; leave 'on' out for a scheduled job")
        }
        return result
    }

    mutating func webhook(_ node: Node) -> WebhookTrigger? {
        guard
            let mapping = mapping(
                node, "webhook", example: "webhook: { verify: github, secret: github_webhook }")
        else { return nil }
        let fields = fields(mapping, allowed: Self.webhookKeys, in: "'webhook'")
        var verify = WebhookTrigger.Verification.github
        if let (_, value) = fields["verify"], let chosen = choice(value, "verify", WebhookTrigger.Verification.self) {
            verify = chosen
        }
        guard let (_, secretNode) = fields["secret"] else {
            report(
                node, "'webhook' has no 'secret'",
                hint: "name the systemd credential with the shared secret: secret: github_webhook "
                    + "(LoadCredential=github_webhook:/etc/wfd/github_webhook in wfd.service)")
            return nil
        }
        guard let secret = string(secretNode, "secret") else { return nil }
        if !Self.isCredentialName(secret) {
            report(
                secretNode, "invalid secret name '\(secret)'",
                hint: "a systemd credential name: letters, digits, '_', '.', '-'")
        }
        var hook = WebhookTrigger(verify: verify, secret: secret)
        if let (_, value) = fields["mode"], let mode = choice(value, "mode", WebhookTrigger.Mode.self) {
            hook.mode = mode
        }
        if let (key, value) = fields["signature_header"], let name = headerName(value, "signature_header") {
            if verify != .hmac { report(key, "'signature_header' is for verify: hmac") }
            hook.signatureHeader = name
        }
        if let (_, value) = fields["delivery_header"], let name = headerName(value, "delivery_header") {
            hook.deliveryHeader = name
        }
        if let (_, value) = fields["headers"] {
            for (text, item) in stringList(value, "headers") ?? [] {
                guard Self.isHeaderName(text) else {
                    report(item, "'\(text)' is not a header name", hint: "letters, digits and '-': X-GitHub-Event")
                    continue
                }
                let name = text.lowercased()
                if name == "authorization" || name == "cookie" || name == hook.signatureHeaderName {
                    report(item, "header '\(text)' carries credentials and is never passed on")
                } else if !hook.headers.contains(name) {
                    hook.headers.append(name)
                }
            }
        }
        if let (_, value) = fields["max_bytes"],
            let bytes = int(value, "max_bytes", range: 1...WebhookTrigger.largestMaxBytes)
        {
            hook.maxBytes = bytes
        }
        if let (_, value) = fields["filter"], let text = string(value, "filter") {
            switch ConditionExpression.parse(when: text) {
            case .success(let expression)?:
                hook.filter = text
                filters.append(FilterSite(node: value, expression: expression))
            case .failure(let error)?:
                report(position(in: value, offset: error.offset), "in 'filter': \(error.message)", hint: error.hint)
            case nil:
                report(
                    value, "'filter' is one ${{ … }} expression, nothing around it",
                    hint: #"filter: ${{ trigger.payload.action == "published" }}"#)
            }
        }
        return hook
    }

    mutating func headerName(_ node: Node, _ key: String) -> String? {
        guard let text = string(node, key) else { return nil }
        guard Self.isHeaderName(text) else {
            report(node, "'\(text)' is not a header name", hint: "letters, digits and '-': X-GitHub-Delivery")
            return nil
        }
        return text
    }

    static func isHeaderName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 100
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    /// A systemd credential's name: letters, digits, `_`, `.`, `-`; not `.` or `..`.
    static func isCredentialName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 255 && name != "." && name != ".."
            && name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
    }

    /// Why `text` is not a path a path trigger can watch, or nil.
    static func pathProblem(_ text: String) -> String? {
        guard text.hasPrefix("/") else { return "it is not absolute" }
        guard !text.hasSuffix("/") else { return "it names a directory: add the file name or a glob (/srv/inbox/*)" }
        let parts = text.split(separator: "/")
        if parts.contains("..") || parts.contains(".") { return "it has '.' or '..' in it" }
        if parts.dropLast().contains(where: { $0.contains("*") || $0.contains("?") || $0.contains("[") }) {
            return "only its last part may have a glob in it"
        }
        return nil
    }
}

extension JobReader {
    /// The checks of `on:` that need the whole job: its filter, and parameters a triggered run
    /// could not be given.
    mutating func checkTriggers(_ job: Job) {
        guard let on = job.triggers else { return }
        for site in filters {
            let context = ConditionContext(
                step: StepID.filter, steps: [:], upstream: [], params: Set(job.params.keys), hasItem: false,
                hasTrigger: true)
            do {
                try site.expression.check(in: context)
            } catch {
                report(
                    position(in: site.node, offset: site.expression.offsetInWhen + error.offset),
                    "in 'filter': \(error.message)", hint: error.hint)
            }
        }
        if on.webhook != nil || !on.paths.isEmpty || !on.jobs.isEmpty {
            for (name, spec) in job.params.sorted(by: { $0.key < $1.key }) where spec.required {
                report(
                    line: 1, column: 1,
                    "parameter '\(name)' is required, and a run started by 'on:' has no way to give it",
                    hint: "give it a default, or read what the trigger carries with ${{ trigger.payload… }}")
            }
        }
    }
}

extension StepID {
    /// The step a webhook's filter is checked as (it reads no step).
    static let filter: StepID = {
        guard let id = StepID("filter") else { preconditionFailure("'filter' is a valid step id") }
        return id
    }()
}
