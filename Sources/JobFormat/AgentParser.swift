import Yams

/// `agent:` steps: the model, its instructions, its tools and the MCP servers it may use.
extension JobReader {
    static let agentKeys = [
        "provider", "model", "base_url", "api_key_secret", "system", "instructions", "temperature", "max_tokens",
        "max_turns", "schema", "repair_attempts", "tools", "mcp_servers",
    ]
    static let toolKeys = ["name", "description", "http", "run", "job", "schema", "effect", "approve"]
    static let toolActions = ["http", "run", "job"]
    static let mcpServerKeys = ["name", "command", "env", "tools", "effect", "approve"]

    mutating func agent(_ node: Node, step: StepID?) -> AgentSpec? {
        guard
            let mapping = mapping(
                node, "agent", example: "agent: { provider: openai, model: …, instructions: …, tools: [ … ] }")
        else { return nil }
        let fields = fields(mapping, allowed: Self.agentKeys, in: "'agent'")
        for required in ["provider", "model", "instructions"] where fields[required] == nil {
            report(
                node, "'agent' is missing '\(required)'", hint: "an agent step needs provider, model and instructions")
        }
        let provider = fields["provider"].flatMap { choice($0.value, "provider", LLMProvider.self) }
        let model = fields["model"].flatMap { nonEmptyString($0.value, "model", hint: "the provider's model name") }
        let instructions = fields["instructions"].flatMap {
            nonEmptyString($0.value, "instructions", hint: "what the agent is to do")
        }
        if let instructions, let (_, value) = fields["instructions"] {
            noteTemplates(instructions, node: value, field: "agent.instructions", step: step)
        }
        // The fields an agent shares with an llm step read alike.
        var shared = LLMCallSpec(provider: provider ?? .openai, model: model ?? "", prompt: instructions ?? "")
        modelFields(fields, into: &shared, kind: "agent", step: step)
        var spec = AgentSpec(shared)
        if let (_, value) = fields["max_turns"], let turns = int(value, "max_turns", range: 1...100) {
            spec.maxTurns = turns
        }
        var names: [String: Node] = [:]
        if let (_, value) = fields["tools"] {
            spec.tools = list(value, "tools", example: "tools: [ { name: lookup, http: { url: … } } ]").compactMap {
                tool($0, step: step, names: &names)
            }
        }
        if let (_, value) = fields["mcp_servers"] {
            spec.mcpServers = list(value, "mcp_servers", example: "mcp_servers: [ { name: time, command: [ … ] } ]")
                .compactMap { mcpServer($0, names: &names) }
        }
        if let (key, _) = fields["tools"] ?? fields["mcp_servers"], spec.tools.isEmpty, spec.mcpServers.isEmpty,
            diagnostics.isEmpty
        {
            report(key, "the agent has no tools", hint: "without tools, use an llm step")
        }
        guard provider != nil, model != nil, instructions != nil else { return nil }
        return spec
    }

    /// The items of a list (reporting anything else).
    mutating func list(_ node: Node, _ key: String, example: String) -> [Node] {
        guard case .sequence(let sequence) = node else {
            report(node, "'\(key)' must be a list, not \(Self.describe(node))", hint: "write \(example)")
            return []
        }
        return Array(sequence)
    }

    mutating func tool(_ node: Node, step: StepID?, names: inout [String: Node]) -> AgentTool? {
        guard
            let mapping = mapping(
                node, "a tool", example: "- { name: lookup, description: …, http: { url: https://…/${{ args.id }} } }")
        else { return nil }
        let fields = fields(mapping, allowed: Self.toolKeys, in: "a tool")
        guard let name = toolName(fields["name"], in: node, names: &names) else { return nil }
        let present = Self.toolActions.filter { fields[$0] != nil }
        guard present.count == 1, let (_, value) = fields[present[0]] else {
            report(
                node,
                present.isEmpty
                    ? "tool '\(name)' does nothing" : "tool '\(name)' has both '\(present[0])' and '\(present[1])'",
                hint: "give exactly one of http, run, job")
            return nil
        }
        let site = "agent.tools.\(name)"
        let action: AgentToolAction
        switch present[0] {
        case "http":
            guard let request = http(value, step: step, field: "\(site).http") else { return nil }
            action = .http(request)
        case "job":
            guard let text = string(value, "job") else { return nil }
            guard let job = JobID(text) else {
                report(value, "'\(text)' is not a job id", hint: JobID.rule)
                return nil
            }
            action = .job(job)
        default:
            guard let command = nonEmptyString(value, "run", hint: "the command line the tool runs") else { return nil }
            if Template.containsTemplate(command) {
                report(
                    value, "a tool's 'run' cannot contain ${{ … }}: the model's arguments never reach a command line",
                    hint: "read them from the environment: WF_ARGS (JSON), WF_ARG_<NAME>")
                return nil
            }
            action = .run(command)
        }
        var tool = AgentTool(name: name, action: action)
        if let (_, value) = fields["description"] {
            tool.description = nonEmptyString(value, "description", hint: "what the tool does, for the model")
        }
        if let (_, value) = fields["schema"], case .job = action {
            report(value, "a job tool's arguments are its job's parameters", hint: "remove 'schema'")
        } else if let (_, value) = fields["schema"] {
            if case .mapping(let schema) = value, schema["type"]?.scalar?.string == "object" {
                tool.schema = jsonSchema(value, "schema")
            } else {
                report(
                    value, "a tool's 'schema' must be a JSON Schema of an object (its arguments)",
                    hint: "e.g. schema: { type: object, properties: { id: { type: integer } }, required: [id] }")
            }
        }
        if let (_, value) = fields["effect"] { tool.effect = choice(value, "effect", EffectClass.self) }
        if let (_, value) = fields["approve"], let approve = bool(value, "approve") { tool.approve = approve }
        return tool
    }

    /// A tool's name, as the model's APIs allow it and unique in the agent.
    mutating func toolName(_ field: (key: Node, value: Node)?, in node: Node, names: inout [String: Node]) -> String? {
        guard let (_, value) = field else {
            report(node, "a tool is missing 'name'", hint: "add name: lookup_issue")
            return nil
        }
        guard let name = string(value, "name") else { return nil }
        guard !name.isEmpty, name.count <= 64,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        else {
            report(value, "invalid tool name '\(name)'", hint: "1 to 64 letters, digits, '_' or '-' (the models' rule)")
            return nil
        }
        if name == AgentSpec.answerToolName {
            report(value, "'\(name)' is the name of the agent's answer", hint: "name the tool otherwise")
            return nil
        }
        if let first = names[name] {
            report(
                value, "duplicate tool name '\(name)'",
                hint: "it was first given at line \(first.mark?.line ?? 0); a model calls tools by name")
            return nil
        }
        names[name] = value
        return name
    }

    mutating func mcpServer(_ node: Node, names: inout [String: Node]) -> MCPServerSpec? {
        guard
            let mapping = mapping(
                node, "an MCP server",
                example: "- { name: time, command: [mcp-server-time], tools: [get_current_time] }")
        else { return nil }
        let fields = fields(mapping, allowed: Self.mcpServerKeys, in: "an MCP server")
        for required in ["name", "command", "tools"] where fields[required] == nil {
            report(
                node, "an MCP server is missing '\(required)'",
                hint: "give its name, command (a list: program and arguments) and the tools the model may call")
        }
        let name = fields["name"].flatMap { nonEmptyString($0.value, "name", hint: "a name for the server") }
        var command: [String] = []
        if let (_, value) = fields["command"] {
            command = stringList(value, "command")?.map(\.0) ?? []
            if command.isEmpty || command.contains(where: \.isEmpty) {
                report(
                    value, "'command' must be a non-empty list of words", hint: "e.g. command: [python3, -m, server]")
            }
        }
        var tools: [String] = []
        if let (_, value) = fields["tools"] {
            for (_, item) in stringList(value, "tools") ?? [] {
                if let tool = toolName((item, item), in: item, names: &names) { tools.append(tool) }
            }
            if tools.isEmpty { report(value, "'tools' is empty", hint: "list the server's tools the model may call") }
        }
        guard let name, !command.isEmpty, !tools.isEmpty else { return nil }
        var server = MCPServerSpec(name: name, command: command, tools: tools)
        if let (_, value) = fields["env"] { server.env = environment(value) }
        if let (_, value) = fields["effect"] { server.effect = choice(value, "effect", EffectClass.self) }
        if let (_, value) = fields["approve"], let approve = bool(value, "approve") { server.approve = approve }
        return server
    }
}
