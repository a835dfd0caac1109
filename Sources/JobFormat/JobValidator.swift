import Yams

extension JobReader {
    /// The checks that need the whole job: `needs` references and cycles, template references,
    /// and secrets named by LLM steps.
    mutating func check(_ job: Job, stepNodes: [StepID: Node]) {
        let known = Set(job.steps.map(\.id))
        for step in job.steps {
            for need in step.needs where !known.contains(need) {
                let node = needsNode(of: step.id, named: need, in: stepNodes)
                let suggestion = closest(need.rawValue, among: known.map(\.rawValue))
                report(
                    node, "step '\(step.id)' needs unknown step '\(need)'",
                    hint: suggestion.map { "did you mean '\($0)'?" }
                        ?? "known steps: \(known.sorted().map(\.rawValue).joined(separator: ", "))")
            }
            for secret in step.secrets ?? [] where !job.secrets.contains(secret) {
                report(
                    stepNodes[step.id].flatMap { node -> Node? in
                        guard case .mapping(let mapping) = node else { return nil }
                        return mapping["secrets"]
                    } ?? stepNodes[step.id],
                    "step '\(step.id)' uses secret '\(secret)' that the job does not declare",
                    hint: "add it to the job's 'secrets:' list")
            }
            let keySecret: String? =
                switch step.kind {
                case .llm(let call): call.apiKeySecret
                case .agent(let agent): agent.apiKeySecret
                default: nil
                }
            if let secret = keySecret, !job.secrets.contains(secret) {
                report(
                    field("api_key_secret", of: step.id, inside: step.kind.name, in: stepNodes),
                    "step '\(step.id)' uses secret '\(secret)' that the job does not declare",
                    hint: "add it to the job's 'secrets:' list")
            }
            if case .agent(let agent) = step.kind {
                for tool in agent.tools {
                    guard case .job(let target) = tool.action, target == job.id else { continue }
                    report(
                        field("tools", of: step.id, inside: "agent", in: stepNodes),
                        "tool '\(tool.name)' starts job '\(target)', the job it is part of",
                        hint: "an agent cannot start its own job: its run would wait for itself")
                }
            }
        }
        if let cycle = StepGraph.cycle(in: job.steps) {
            report(
                stepNodes[cycle[0]], "cycle in 'needs': \(cycle.map(\.rawValue).joined(separator: " -> "))",
                hint: "a step cannot depend on itself, directly or through others")
        }
        let upstream = StepGraph.upstream(of: job.steps)
        let byID = Dictionary(job.steps.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for site in conditions {
            let context = ConditionContext(
                step: site.step, steps: byID, upstream: upstream[site.step] ?? [], params: Set(job.params.keys),
                hasItem: byID[site.step]?.forEach != nil, hasTrigger: job.triggers != nil)
            do {
                try site.expression.check(in: context)
            } catch {
                report(
                    position(in: site.node, offset: site.expression.offsetInWhen + error.offset),
                    "in 'when': \(error.message)", hint: error.hint)
            }
        }
        checkTriggers(job)
        for site in templates {
            for reference in site.template.references {
                if let problem = problem(with: reference, at: site, job: job, upstream: upstream) {
                    report(site.node, "in '\(site.field)': \(problem.message)", hint: problem.hint)
                }
            }
        }
    }

    func problem(
        with reference: TemplateReference, at site: TemplateSite, job: Job, upstream: [StepID: Set<StepID>]
    ) -> (message: String, hint: String?)? {
        switch reference {
        case .stepOutput(let id, _):
            guard job.steps.contains(where: { $0.id == id }) else {
                let suggestion = closest(id.rawValue, among: job.steps.map(\.id.rawValue))
                return ("unknown step '\(id)'", suggestion.map { "did you mean '\($0)'?" })
            }
            if let step = site.step, !(upstream[step]?.contains(id) ?? false) {
                return ("step '\(step)' reads the output of '\(id)' but does not need it", "add '\(id)' to its 'needs'")
            }
            if site.step == nil { return ("'\(site.field)' cannot read step outputs", nil) }
        case .param(let name):
            guard job.params[name] != nil else {
                let suggestion = closest(name, among: Array(job.params.keys))
                return (
                    "unknown parameter '\(name)'",
                    suggestion.map { "did you mean '\($0)'?" } ?? "declare it under 'params:'"
                )
            }
        case .secret(let name):
            guard job.secrets.contains(name) else {
                return ("unknown secret '\(name)'", "add '\(name)' to the job's 'secrets:' list")
            }
            // Anywhere else a secret's value could end up in a record, a log or a model's prompt.
            guard site.field.hasPrefix("http.headers.") || site.field.contains(".http.headers.") else {
                return (
                    "a secret can only be used in http headers",
                    "give it to a run step with 'secrets: [\(name)]' (as $\(StepEnvironmentNames.secretName(name))), "
                        + "or to a model with api_key_secret"
                )
            }
        case .item:
            let step = site.step.flatMap { id in job.steps.first { $0.id == id } }
            guard step?.forEach != nil, site.field != "for_each" else {
                return ("'item' is only defined in a step with 'for_each'", nil)
            }
        case .runID, .runTrigger, .jobID:
            break
        case .args:
            guard site.field.hasPrefix("agent.tools.") else {
                return ("'args' is only defined in an agent's tool", "a tool's http fields read the model's arguments")
            }
        case .trigger:
            guard job.triggers != nil else {
                return ("'trigger' is only defined in a job with 'on:'", "add on: { webhook: … } (or path, or job)")
            }
        }
        return nil
    }

    func needsNode(of step: StepID, named need: StepID, in nodes: [StepID: Node]) -> Node? {
        guard case .mapping(let mapping)? = nodes[step], let needs = mapping["needs"] else { return nodes[step] }
        if case .sequence(let list) = needs {
            return list.first { $0.scalar?.string == need.rawValue } ?? needs
        }
        return needs
    }

    func field(_ key: String, of step: StepID, inside kind: String, in nodes: [StepID: Node]) -> Node? {
        guard case .mapping(let mapping)? = nodes[step], case .mapping(let inner)? = mapping[kind] else {
            return nodes[step]
        }
        return inner[key] ?? nodes[step]
    }
}
