import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// The work of ``Hardening/harden(_:)``: the calls in the order the model made them, each
/// argument traced to its source, emitted as steps chained in that order (so the effects happen
/// in the order the agent made them).
struct HardeningPlan {
    let input: Hardening.Input
    var lines: [String] = []
    var ids: [String] = []
    /// Steps whose output later steps may read, with the value the agent's run saw.
    var produced: [(id: String, value: JSONValue)] = []
    var modelCalls = 0
    var notes: [String] = []
    /// The step the next one follows.
    var previous: [String]

    init(input: Hardening.Input) {
        self.input = input
        previous = input.step.needs.map(\.rawValue)
    }

    mutating func build() throws(Hardening.Problem) {
        var made: [Hardening.Made] = []
        for turn in input.transcript.turns {
            for call in turn.toolCalls {
                guard call.state == .succeeded else {
                    if call.state != .refused {
                        notes.append("turn \(turn.number): \(call.name) \(call.state.rawValue), left out")
                    }
                    continue
                }
                guard let tool = input.agent.tools.first(where: { $0.name == call.name }) else {
                    notes.append(
                        "turn \(turn.number): \(call.name) is an MCP server's tool: no step kind runs it; left out")
                    continue
                }
                if case .job(let job) = tool.action {
                    notes.append(
                        "turn \(turn.number): \(call.name) starts job \(job) and awaits it: no step kind does; "
                            + "left out (an on: { job: … } trigger chains jobs)")
                    continue
                }
                made.append(Hardening.Made(turn: turn.number, call: call, tool: tool, sources: [:]))
            }
        }
        guard !made.isEmpty else {
            throw Hardening.Problem(description: "the agent made no tool call that succeeded: nothing to harden")
        }
        var index = 0
        while index < made.count {
            for argument in arguments(of: made[index].call) {
                var found = source(of: argument.value)
                // A command gets its arguments from its environment: what a shell cannot be
                // given there (a field of an output) is the model's to write out.
                if case .run = made[index].tool.action, let template = found,
                    HardenedStepText.envFor([argument.key: template]).isEmpty
                {
                    found = nil
                }
                made[index].sources[argument.key] = .some(found)
            }
            let loop = loop(from: made, at: index)
            if loop == nil {
                // A value picked out of a list (not walked whole) was the model's choice on the data.
                for (key, template) in made[index].sources where template.map(Self.picksFromList) == true {
                    made[index].sources[key] = .some(nil)
                }
            }
            if made[index].decided {
                // The model's decisions in this turn: one step decides them all.
                var group = [made[index]]
                while index + 1 < made.count, made[index + 1].turn == made[index].turn {
                    index += 1
                    group.append(made[index])
                }
                emitDecided(group)
            } else if let loop {
                emitLoop(Array(made[index..<index + loop.count]), over: loop.array, fields: loop.fields)
                index += loop.count - 1
            } else {
                emitCall(made[index])
            }
            index += 1
        }
    }

    func output() -> Hardening.Output {
        Hardening.Output(
            yaml: lines.joined(separator: "\n") + "\n", steps: ids, modelCalls: modelCalls,
            agentCalls: input.transcript.turns.count, notes: notes)
    }

    // MARK: - Where values came from

    func arguments(of call: AgentToolCall) -> [(key: String, value: JSONValue)] {
        guard case .object(let fields)? = call.arguments else { return [] }
        return fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// A template for `value` from what the run knew, or nil: the model made it.
    func source(of value: JSONValue) -> String? {
        guard let text = Self.scalarText(value), !text.isEmpty else { return nil }
        for (name, param) in input.params.sorted(by: { $0.key < $1.key }) where param == text {
            return "${{ params.\(name) }}"
        }
        if input.agent.instructions.contains(text), !Template.containsTemplate(text) { return text }
        if let path = Self.find(text, in: input.trigger, path: []) {
            return "${{ trigger\(path.map { ".\($0)" }.joined()) }}"
        }
        for (id, output) in produced.reversed() {
            if let path = Self.find(text, in: output, path: []) {
                return "${{ steps.\(id).output\(path.map { ".\($0)" }.joined()) }}"
            }
        }
        for (id, output) in input.upstream.sorted(by: { $0.key < $1.key }) {
            if let path = Self.find(text, in: output, path: []) {
                return "${{ steps.\(id).output\(path.map { ".\($0)" }.joined()) }}"
            }
        }
        return nil
    }

    /// Whether `template` reads an element of a list by its index (`….items.2.id`).
    static func picksFromList(_ template: String) -> Bool {
        template.hasPrefix("${{ steps.") && template.split(separator: ".").contains { Int($0) != nil }
    }

    static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .number, .bool: value.jsonText
        default: nil
        }
    }

    /// The path of the first scalar in `value` whose text is `text`.
    static func find(_ text: String, in value: JSONValue, path: [String]) -> [String]? {
        switch value {
        case .object(let fields):
            for (key, field) in fields.sorted(by: { $0.key < $1.key }) {
                if let found = find(text, in: field, path: path + [key]) { return found }
            }
            return nil
        case .array(let items):
            for (position, item) in items.enumerated() {
                if let found = find(text, in: item, path: path + [String(position)]) { return found }
            }
            return nil
        default:
            return scalarText(value) == text ? path : nil
        }
    }

    /// Calls of one tool from `start` on whose arguments are the same fields of every element
    /// of one earlier list, in order: the array's template and each argument's field path.
    func loop(from made: [Hardening.Made], at start: Int) -> (count: Int, array: String, fields: [String: String])? {
        let first = made[start]
        func split(_ template: String?) -> (array: String, index: Int, rest: String)? {
            guard let template, template.hasPrefix("${{ steps."), template.hasSuffix(" }}") else { return nil }
            let path = template.dropFirst(4).dropLast(3).split(separator: ".").map(String.init)
            guard let position = path.firstIndex(where: { Int($0) != nil }), let index = Int(path[position]) else {
                return nil
            }
            return (path[..<position].joined(separator: "."), index, path[(position + 1)...].joined(separator: "."))
        }
        let parts = first.sources.mapValues { split($0 ?? nil) }
        guard !parts.isEmpty, parts.values.allSatisfy({ $0 != nil }),
            let array = parts.values.first??.array, parts.values.allSatisfy({ $0?.array == array && $0?.index == 0 })
        else { return nil }
        var count = 1
        while start + count < made.count, made[start + count].tool.name == first.tool.name {
            let next = made[start + count]
            let nextParts = arguments(of: next.call).map { (key: $0.key, part: split(source(of: $0.value))) }
            guard nextParts.allSatisfy({ $0.part?.array == array && $0.part?.index == count }) else { break }
            count += 1
        }
        // Every element, or it was a choice: a choice is the model's (see emitDecided).
        guard let length = listLength(array), length == count else { return nil }
        return (count, "${{ \(array) }}", parts.compactMapValues { $0?.rest })
    }

    func listLength(_ template: String) -> Int? {
        let path = template.split(separator: ".").map(String.init)
        guard path.count >= 3, path[0] == "steps", path[2] == "output" else { return nil }
        let value =
            produced.last(where: { $0.id == path[1] })?.value ?? StepID(path[1]).flatMap { input.upstream[$0] }
        guard var current = value else { return nil }
        for key in path.dropFirst(3) {
            switch current {
            case .object(let fields): current = fields[key] ?? .null
            case .array(let items): current = Int(key).flatMap { items.indices.contains($0) ? items[$0] : nil } ?? .null
            default: return nil
            }
        }
        if case .array(let items) = current { return items.count }
        return nil
    }
}

/// Emitting the steps.
extension HardeningPlan {
    /// A deterministic call: its tool's request or command with the arguments' sources.
    mutating func emitCall(_ made: Hardening.Made) {
        let arguments = made.sources.compactMapValues { $0 }
        gate(
            made.tool, message: "Call \(made.tool.name) with \(HardenedStepText.described(arguments))?", turn: made.turn
        )
        let id = newID(made.tool.name)
        emit(
            id, from: ["from turn \(made.turn): \(made.call.name) \(made.call.arguments?.jsonText ?? "{}")"],
            body: HardenedStepText.action(
                made.tool, arguments: arguments, environment: HardenedStepText.envFor(arguments)))
        produced.append((id, HardenedStepText.resultValue(made.call)))
    }

    /// Calls of one tool over every element of a list.
    mutating func emitLoop(_ calls: [Hardening.Made], over array: String, fields: [String: String]) {
        let tool = calls[0].tool
        let arguments = fields.mapValues { "${{ item\($0.isEmpty ? "" : ".\($0)") }}" }
        gate(tool, message: "Call \(tool.name) for each of \(array)?", turn: calls[0].turn)
        let id = newID("\(tool.name)_each")
        emit(
            id, from: calls.map { "from turn \($0.turn): \($0.call.name) \($0.call.arguments?.jsonText ?? "{}")" },
            body: ["for_each: \(HardenedStepText.quoted(array))"]
                + HardenedStepText.action(tool, arguments: arguments, environment: nil))
        produced.append((id, .array(calls.map { HardenedStepText.resultValue($0.call) })))
    }

    /// Calls whose arguments the model made: a model call decides them, then each tool runs.
    mutating func emitDecided(_ group: [Hardening.Made]) {
        let from = group.map { "from turn \($0.turn): \($0.call.name) \($0.call.arguments?.jsonText ?? "{}")" }
        let first = group[0]
        if group.count == 1, case .run = first.tool.action, first.sources.values.filter({ $0 == nil }).count == 1,
            let (name, _) = first.sources.first(where: { $0.value == nil }),
            case .string(let written)? = arguments(of: first.call).first(where: { $0.key == name })?.value
        {
            let writer = newID("\(first.tool.name)_\(name)")
            let what =
                "Write the value of '\(name)' for the tool '\(first.tool.name)' (\(first.tool.description ?? first.tool.name)). Answer with that value only."
            emit(
                writer,
                from: from + [
                    "the model wrote its '\(name)' (\(written.count) characters): this step has a model write it"
                ], body: model(what, schema: nil))
            produced.append((writer, .string(written)))
            var sources = first.sources.compactMapValues { $0 }
            sources[name] = "${{ steps.\(writer).output }}"
            gate(
                first.tool, message: "Call \(first.tool.name) with \(HardenedStepText.described(sources))?",
                turn: first.turn)
            let id = newID(first.tool.name)
            emit(
                id, from: from,
                body: HardenedStepText.action(
                    first.tool, arguments: sources, environment: HardenedStepText.envFor(sources)))
            produced.append((id, HardenedStepText.resultValue(first.call)))
            return
        }
        let tools = group.map(\.tool.name).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let decided: [JSONValue] = group.map { made in
            var fields: [String: JSONValue] = ["tool": .string(made.tool.name)]
            for (key, value) in arguments(of: made.call) { fields[key] = value }
            return .object(fields)
        }
        var item = Hardening.schema(of: decided)
        if case .object(var object) = item, case .object(var properties)? = object["properties"] {
            properties["tool"] = .object(["enum": .array(tools.map(JSONValue.string))])
            object["properties"] = .object(properties)
            item = .object(object)
        }
        let schema: JSONValue = .object([
            "type": .string("object"), "required": .array([.string("calls")]),
            "properties": .object(["calls": .object(["type": .string("array"), "items": item])]),
        ])
        let menu = group.map(\.tool).reduce(into: [AgentTool]()) { list, tool in
            if !list.contains(where: { $0.name == tool.name }) { list.append(tool) }
        }.map { "\($0.name) (\($0.description ?? $0.name))" }.joined(separator: ", ")
        let decider = newID("decide")
        emit(
            decider, from: from,
            body: model(
                "Decide which calls to make, each naming its tool (one of: \(menu)) and giving its arguments. Make no call the inputs do not support.",
                schema: schema))
        produced.append((decider, .object(["calls": .array(decided)])))
        let calls = "${{ steps.\(decider).output.calls }}"
        if group.contains(where: \.tool.approve) {
            let id = newID("approve_\(decider)")
            emit(
                id, from: ["the agent's calls of these tools waited for a person"],
                body: ["approval: { message: \(HardenedStepText.quoted("Make these calls? \(calls)")) }"])
        }
        for name in tools {
            guard let tool = group.first(where: { $0.tool.name == name })?.tool else { continue }
            let keys = Set(group.filter { $0.tool.name == name }.flatMap { arguments(of: $0.call).map(\.key) })
            let fields = Dictionary(uniqueKeysWithValues: keys.map { ($0, "${{ item.\($0) }}") })
            let id = newID("\(name)_each")
            var body = [
                "for_each: \(HardenedStepText.quoted(calls))",
                "when: \(HardenedStepText.quoted("${{ item.tool == \"\(name)\" }}"))",
            ]
            if case .run = tool.action {
                notes.append("step '\(id)' gets its call as WF_ITEM and WF_ARGS, not WF_ARG_<NAME>")
            }
            body += HardenedStepText.action(tool, arguments: fields, environment: ["WF_ARGS": "\"$WF_ITEM\""])
            emit(
                id,
                from: group.filter { $0.tool.name == name }.map {
                    "from turn \($0.turn): \($0.call.name) \($0.call.arguments?.jsonText ?? "{}")"
                }, body: body)
        }
    }

    /// An approval step before a tool that needed one.
    mutating func gate(_ tool: AgentTool, message: String, turn: Int) {
        guard tool.approve else { return }
        let id = newID("approve_\(tool.name)")
        emit(
            id, from: ["from turn \(turn): \(tool.name) waited for a person"],
            body: ["approval: { message: \(HardenedStepText.quoted(message)) }"])
    }

    /// An `llm` step with the agent's model, the instructions and every output so far.
    mutating func model(_ ask: String, schema: JSONValue?) -> [String] {
        modelCalls += 1
        let agent = input.agent
        var inputs = produced.map { "\($0.id): ${{ steps.\($0.id).output }}" }
        inputs += input.step.needs.map { "\($0): ${{ steps.\($0).output }}" }
        var call: [String: JSONValue] = [
            "provider": .string(agent.provider.rawValue), "model": .string(agent.model),
            "prompt": .string(
                agent.instructions + "\n\n" + ask
                    + (inputs.isEmpty ? "" : "\n\nInputs:\n" + inputs.joined(separator: "\n"))),
            "temperature": .number(0),
        ]
        if let base = agent.baseURL { call["base_url"] = .string(base) }
        if let key = agent.apiKeySecret { call["api_key_secret"] = .string(key) }
        if let system = agent.system { call["system"] = .string(system) }
        if let tokens = agent.maxTokens { call["max_tokens"] = .number(Double(tokens)) }
        if let schema { call["schema"] = schema }
        return HardenedStepText.block("llm", .object(call), order: HardenedStepText.llmOrder)
    }

    mutating func emit(_ id: String, from: [String], body: [String]) {
        if !lines.isEmpty { lines.append("") }
        lines += from.map { "  # \($0)" }
        lines.append("  - id: \(id)")
        if !previous.isEmpty { lines.append("    needs: [\(previous.joined(separator: ", "))]") }
        lines += body.map { $0.isEmpty ? "" : "    " + $0 }
        ids.append(id)
        previous = [id]
    }

    mutating func newID(_ base: String) -> String {
        var clean = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" }.prefix(56))
        if clean.first?.isNumber != false { clean = "s_" + clean }
        let taken = Set(ids + input.job.steps.map(\.id.rawValue))
        var id = clean
        var count = 2
        while taken.contains(id) {
            id = "\(clean)_\(count)"
            count += 1
        }
        return id
    }
}
