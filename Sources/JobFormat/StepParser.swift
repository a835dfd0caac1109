import Yams

extension JobReader {
    static let stepKeys = [
        "id", "needs", "run", "http", "llm", "approval", "agent", "output", "retry", "timeout", "env", "secrets",
        "workdir",
        "user", "effect", "for_each", "when", "sandbox", "resources",
    ]
    static let kinds = ["run", "http", "llm", "approval", "agent"]
    static let httpKeys = ["method", "url", "headers", "query", "json", "body", "timeout", "expect", "idempotency_key"]
    static let llmKeys = [
        "provider", "model", "base_url", "api_key_secret", "system", "prompt", "temperature", "max_tokens", "schema",
        "repair_attempts",
    ]
    static let approvalKeys = ["message", "timeout", "on_timeout", "input"]
    static let retryKeys = ["attempts", "delay", "backoff", "max_delay", "on_exit_codes"]
    static let httpMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// Where a key of a step kind goes when it is written one level too high.
    static let stepElsewhere: [String: String] = {
        var homes: [String: String] = [:]
        for key in httpKeys where !stepKeys.contains(key) { homes[key] = "http:" }
        for key in llmKeys where !stepKeys.contains(key) && homes[key] == nil { homes[key] = "llm:" }
        for key in retryKeys where !stepKeys.contains(key) && homes[key] == nil { homes[key] = "retry:" }
        homes["message"] = "approval:"
        for key in JobParser.jobKeys where !stepKeys.contains(key) { homes[key] = "the job, not a step" }
        return homes
    }()

    mutating func stepList(_ node: Node) -> [StepDefinition] {
        guard case .sequence(let sequence) = node else {
            report(
                node, "'steps' must be a list of steps, not \(Self.describe(node))",
                hint: "write each step as '- id: name' with 'run:'")
            return []
        }
        if sequence.isEmpty { report(node, "'steps' is empty", hint: "a job needs at least one step") }
        var steps: [StepDefinition] = []
        var seen: Set<StepID> = []
        for item in sequence {
            guard let step = step(item) else { continue }
            if seen.contains(step.id) {
                report(item, "duplicate step id '\(step.id)'", hint: "step ids must be unique within a job")
                continue
            }
            seen.insert(step.id)
            steps.append(step)
        }
        return steps
    }

    mutating func step(_ node: Node) -> StepDefinition? {
        guard case .mapping(let mapping) = node else {
            report(
                node, "a step must be a mapping, not \(Self.describe(node))",
                hint: "write '- id: name' and 'run: command'")
            return nil
        }
        let fields = fields(mapping, allowed: Self.stepKeys, in: "a step", elsewhere: Self.stepElsewhere)
        var id: StepID?
        if let (_, value) = fields["id"], let text = string(value, "id") {
            id = StepID(text)
            if id == nil { report(value, "invalid step id '\(text)'", hint: StepID.rule) }
        } else if fields["id"] == nil {
            report(node, "a step is missing 'id'", hint: "add 'id: some-name'")
        }
        let name = id.map { "step '\($0)'" } ?? "this step"
        let present = Self.kinds.filter { fields[$0] != nil }
        var kind: StepKind?
        switch present.count {
        case 0:
            // A misspelt kind ('runn', 'command') was reported as an unknown key with the fix.
            let misspelt = mapping.contains { key, _ in
                guard let text = key.scalar?.string, !Self.stepKeys.contains(text) else { return false }
                return Self.kinds.contains(Self.synonyms[text] ?? closest(text, among: Self.kinds) ?? "")
            }
            if !misspelt {
                report(node, "\(name) has no kind", hint: "give exactly one of run, http, llm, approval, agent")
            }
        case 1:
            if let (_, value) = fields[present[0]] { kind = stepKind(present[0], value, step: id) }
        default:
            let second = fields[present[1]]?.key
            report(
                second, "\(name) has both '\(present[0])' and '\(present[1])'",
                hint: "a step does exactly one thing: split it into two steps joined by 'needs'")
        }
        var step = StepDefinition(id: id ?? StepID.placeholder, kind: kind ?? .run("true"))
        if let (_, value) = fields["needs"] { step.needs = stepReferences(value) }
        if let (_, value) = fields["output"], let mode = choice(value, "output", OutputMode.self) { step.output = mode }
        if let (_, value) = fields["retry"] { step.retry = retry(value) }
        if let (_, value) = fields["timeout"] { step.timeout = duration(value, "timeout") }
        if let (_, value) = fields["env"] { step.env = environment(value) }
        if let (_, value) = fields["secrets"] {
            step.secrets = secrets(value)
            if step.kind.name != "run" {
                report(
                    value, "'secrets' gives secrets to a step's process; an \(step.kind.name) step has none",
                    hint: "use ${{ secrets.NAME }} in http headers, or api_key_secret in llm")
            }
        }
        if let (_, value) = fields["workdir"] {
            step.workdir = nonEmptyString(value, "workdir", hint: "a directory path")
        }
        if let (_, value) = fields["user"], let user = nonEmptyString(value, "user", hint: "a user name or uid") {
            if user.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-$".contains($0)) }) {
                step.user = user
            } else {
                report(value, "invalid user name '\(user)'", hint: "a login name like backup, or a numeric uid")
            }
        }
        if let (_, value) = fields["effect"] { step.effect = choice(value, "effect", EffectClass.self) }
        for key in ["sandbox", "resources"] {
            guard let (_, value) = fields[key] else { continue }
            if key == "sandbox" {
                step.sandbox = sandbox(value).map(Indirect.init)
            } else {
                step.resources = resources(value).map(Indirect.init)
            }
            if step.kind.name != "run" {
                report(
                    value, "'\(key)' applies to a step's process; an \(step.kind.name) step runs inside wfd",
                    hint: "remove it, or give it to the job for all of its run steps")
            }
        }
        if let (_, value) = fields["for_each"], let text = string(value, "for_each") {
            step.forEach = text
            if let template = try? Template(parsing: text), template.isSingleReference {
                noteTemplates(text, node: value, field: "for_each", step: id)
            } else {
                report(
                    value, "'for_each' must be one reference like ${{ steps.list.output.items }}",
                    hint: "it names a JSON array from an earlier step's output or a parameter")
            }
        }
        if let (_, value) = fields["when"], let text = string(value, "when") {
            switch text {
            case "success": step.when = .success
            case "always": step.when = .always
            case "failure": step.when = .failure
            default:
                if let parsed = ConditionExpression.parse(when: text) {
                    switch parsed {
                    case .success(let expression):
                        step.when = .expression(text)
                        if let id { conditions.append(ConditionSite(step: id, node: value, expression: expression)) }
                    case .failure(let error):
                        report(
                            position(in: value, offset: error.offset), "in 'when': \(error.message)", hint: error.hint)
                    }
                } else if Template.containsTemplate(text) {
                    report(
                        value, "'when' is one ${{ … }} expression, nothing around it",
                        hint: "e.g. when: ${{ steps.fetch.output.source == \"github\" }}")
                } else {
                    let hint = closest(text, among: ["success", "always", "failure"]).map { "did you mean '\($0)'?" }
                    report(
                        value, "'when' must be success, always, failure or a ${{ … }} expression, not '\(text)'",
                        hint: hint)
                }
            }
        }
        guard let id, kind != nil else { return nil }
        step.id = id
        return step
    }

    mutating func stepKind(_ key: String, _ node: Node, step: StepID?) -> StepKind? {
        switch key {
        case "run":
            guard let command = nonEmptyString(node, "run", hint: "give the shell command to run") else { return nil }
            if Template.containsTemplate(command) {
                report(
                    node, "'run' cannot contain ${{ … }}: values are never spliced into a shell command line",
                    hint: "read them from the environment: WF_STEP_<ID>_OUTPUT, WF_PARAM_<NAME>, WF_ITEM")
                return nil
            }
            return .run(command)
        case "http": return http(node, step: step).map(StepKind.http)
        case "llm": return llm(node, step: step).map(StepKind.llm)
        case "agent": return agent(node, step: step).map(StepKind.agent)
        default: return approval(node, step: step).map(StepKind.approval)
        }
    }

    mutating func http(_ node: Node, step: StepID?, field prefix: String = "http") -> HTTPRequestSpec? {
        guard let mapping = mapping(node, "http", example: "http: { method: POST, url: https://… }") else { return nil }
        let fields = fields(mapping, allowed: Self.httpKeys, in: "'http'")
        guard let (_, urlNode) = fields["url"], let url = nonEmptyString(urlNode, "url", hint: "give the URL to call")
        else {
            if fields["url"] == nil { report(node, "'http' is missing 'url'", hint: "add url: https://…") }
            return nil
        }
        noteTemplates(url, node: urlNode, field: "\(prefix).url", step: step)
        if !Template.containsTemplate(url), !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            report(urlNode, "'url' must start with http:// or https://, not '\(url)'")
        }
        var spec = HTTPRequestSpec(url: url)
        if let (_, value) = fields["method"], let method = string(value, "method") {
            if Self.httpMethods.contains(method.uppercased()) {
                spec.method = method.uppercased()
            } else {
                report(
                    value, "unknown HTTP method '\(method)'", hint: "one of \(Self.httpMethods.joined(separator: ", "))"
                )
            }
        }
        if let (_, value) = fields["headers"] {
            let headers = stringMap(value, "headers", names: .header)
            for (name, (text, item)) in headers {
                noteTemplates(text, node: item, field: "\(prefix).headers.\(name)", step: step)
            }
            spec.headers = headers.mapValues(\.0)
        }
        if let (_, value) = fields["query"] {
            let query = stringMap(value, "query", names: .any)
            for (name, (text, item)) in query {
                noteTemplates(text, node: item, field: "\(prefix).query.\(name)", step: step)
            }
            spec.query = query.mapValues(\.0)
        }
        if let (_, value) = fields["json"] {
            spec.json = json(value)
            for text in spec.json?.strings ?? [] {
                noteTemplates(text, node: value, field: "\(prefix).json", step: step)
            }
        }
        if let (_, value) = fields["body"], let body = string(value, "body") {
            spec.body = body
            noteTemplates(body, node: value, field: "\(prefix).body", step: step)
        }
        if let (key, _) = fields["body"], fields["json"] != nil {
            report(key, "'http' has both 'json' and 'body'", hint: "send either a JSON document or a raw body")
        }
        if let (_, value) = fields["timeout"] { spec.timeout = duration(value, "http.timeout") }
        if let (_, value) = fields["expect"] {
            let items: [Node] = if case .sequence(let list) = value { Array(list) } else { [value] }
            spec.expect = items.compactMap { int($0, "expect", range: 100...599) }
        }
        if let (_, value) = fields["idempotency_key"],
            let key = nonEmptyString(value, "idempotency_key", hint: "e.g. ${{ run.id }}-close")
        {
            spec.idempotencyKey = key
            noteTemplates(key, node: value, field: "\(prefix).idempotency_key", step: step)
        }
        return spec
    }

    mutating func llm(_ node: Node, step: StepID?) -> LLMCallSpec? {
        guard let mapping = mapping(node, "llm", example: "llm: { provider: openai, model: …, prompt: … }") else {
            return nil
        }
        let fields = fields(mapping, allowed: Self.llmKeys, in: "'llm'")
        for required in ["provider", "model", "prompt"] where fields[required] == nil {
            report(node, "'llm' is missing '\(required)'", hint: "an llm step needs provider, model and prompt")
        }
        let provider = fields["provider"].flatMap { choice($0.value, "provider", LLMProvider.self) }
        let model = fields["model"].flatMap { nonEmptyString($0.value, "model", hint: "the provider's model name") }
        let prompt = fields["prompt"].flatMap { nonEmptyString($0.value, "prompt", hint: "what to ask the model") }
        if let prompt, let (_, value) = fields["prompt"] {
            noteTemplates(prompt, node: value, field: "llm.prompt", step: step)
        }
        var spec = LLMCallSpec(provider: provider ?? .openai, model: model ?? "", prompt: prompt ?? "")
        modelFields(fields, into: &spec, kind: "llm", step: step)
        guard provider != nil, model != nil, prompt != nil else { return nil }
        return spec
    }

    /// The fields an `llm` step and an `agent` share: base_url, api_key_secret, system,
    /// temperature, max_tokens, schema, repair_attempts.
    mutating func modelFields(
        _ fields: [String: (key: Node, value: Node)], into spec: inout LLMCallSpec, kind: String, step: StepID?
    ) {
        if let (_, value) = fields["base_url"], let url = string(value, "base_url") {
            noteTemplates(url, node: value, field: "\(kind).base_url", step: step)
            if Template.containsTemplate(url) || url.hasPrefix("http://") || url.hasPrefix("https://") {
                spec.baseURL = url
            } else {
                report(value, "'base_url' must start with http:// or https://, not '\(url)'")
            }
        }
        if let (_, value) = fields["api_key_secret"] { spec.apiKeySecret = string(value, "api_key_secret") }
        if let (_, value) = fields["system"], let text = string(value, "system") {
            spec.system = text
            noteTemplates(text, node: value, field: "\(kind).system", step: step)
        }
        if let (_, value) = fields["temperature"] { spec.temperature = number(value, "temperature", range: 0...2) }
        if let (_, value) = fields["max_tokens"] { spec.maxTokens = int(value, "max_tokens", range: 1...10_000_000) }
        if let (_, value) = fields["schema"] {
            if case .mapping = value {
                spec.schema = jsonSchema(value, "schema")
            } else if value.bool != nil, case .scalar(let s) = value, s.tagName == .bool {
                spec.schema = json(value)
            } else {
                report(
                    value, "'schema' must be a JSON Schema (a mapping), not \(Self.describe(value))",
                    hint: "e.g. schema: { type: object, required: [items] }")
            }
        }
        if let (_, value) = fields["repair_attempts"], let count = int(value, "repair_attempts", range: 0...10) {
            spec.repairAttempts = count
        }
    }

    mutating func approval(_ node: Node, step: StepID?) -> ApprovalSpec? {
        guard let mapping = mapping(node, "approval", example: "approval: { message: \"Close these?\", timeout: 24h }")
        else { return nil }
        let fields = fields(mapping, allowed: Self.approvalKeys, in: "'approval'")
        guard let (_, messageNode) = fields["message"],
            let message = nonEmptyString(messageNode, "message", hint: "what the person approves")
        else {
            if fields["message"] == nil {
                report(node, "'approval' is missing 'message'", hint: "say what the person approves")
            }
            return nil
        }
        noteTemplates(message, node: messageNode, field: "approval.message", step: step)
        var spec = ApprovalSpec(message: message)
        if let (_, value) = fields["timeout"] { spec.timeout = duration(value, "approval.timeout") }
        if let (_, value) = fields["on_timeout"] {
            spec.onTimeout = choice(value, "on_timeout", ApprovalTimeoutAction.self)
            if fields["timeout"] == nil {
                report(value, "'on_timeout' without 'timeout' never applies", hint: "add timeout: 24h")
            }
        }
        if let (_, value) = fields["input"] {
            if case .mapping = value {
                spec.input = jsonSchema(value, "input")
            } else {
                report(
                    value, "'input' must be a JSON Schema (a mapping), not \(Self.describe(value))",
                    hint: "e.g. input: { type: object, required: [ticket] }")
            }
        }
        return spec
    }

    mutating func retry(_ node: Node) -> RetryPolicy? {
        guard let mapping = mapping(node, "retry", example: "retry: { attempts: 3, delay: 5s, backoff: 2 }") else {
            return nil
        }
        let fields = fields(mapping, allowed: Self.retryKeys, in: "'retry'")
        guard let (_, attemptsNode) = fields["attempts"] else {
            report(
                node, "'retry' is missing 'attempts'", hint: "attempts counts the first try: 3 means up to 2 retries")
            return nil
        }
        guard let attempts = int(attemptsNode, "attempts", range: 1...100) else { return nil }
        var policy = RetryPolicy(attempts: attempts)
        if let (_, value) = fields["delay"] { policy.delay = duration(value, "delay") }
        if let (_, value) = fields["backoff"], let factor = number(value, "backoff", range: 1...10) {
            policy.backoff = factor
        }
        if let (_, value) = fields["max_delay"] { policy.maxDelay = duration(value, "max_delay") }
        if let (_, value) = fields["on_exit_codes"] {
            let items: [Node] = if case .sequence(let list) = value { Array(list) } else { [value] }
            policy.onExitCodes = items.compactMap { int($0, "on_exit_codes", range: 1...255) }
        }
        if let delay = policy.delay, let maxDelay = policy.maxDelay, maxDelay.milliseconds < delay.milliseconds,
            let (_, value) = fields["max_delay"]
        {
            report(value, "'max_delay' (\(maxDelay)) is shorter than 'delay' (\(delay))")
        }
        return policy
    }

    mutating func environment(_ node: Node) -> [String: String] {
        let entries = stringMap(node, "env", names: .environment)
        for (name, (text, item)) in entries where Template.containsTemplate(text) {
            report(
                item, "'env.\(name)' cannot contain ${{ … }}",
                hint: "steps read earlier outputs from WF_STEP_<ID>_OUTPUT and parameters from WF_PARAM_<NAME>")
        }
        return entries.mapValues(\.0)
    }

    mutating func stepReferences(_ node: Node) -> [StepID] {
        guard let items = stringList(node, "needs") else { return [] }
        var result: [StepID] = []
        for (text, item) in items {
            guard let id = StepID(text) else {
                report(item, "'\(text)' in 'needs' is not a step id", hint: StepID.rule)
                continue
            }
            if !result.contains(id) { result.append(id) }
        }
        return result
    }
}

extension StepID {
    /// The id a step without a valid id is read under, so its other problems are still reported.
    static let placeholder: StepID = {
        guard let id = StepID("_") else { preconditionFailure("'_' is a valid step id") }
        return id
    }()
}
