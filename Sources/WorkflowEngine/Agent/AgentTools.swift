import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import WorkflowStore

/// How a tool call ended, for the model.
enum ToolOutcome: Sendable {
    /// What the model is told, and whether it is an error.
    case done(String, failed: Bool)
    case cancelled(String)
}

/// The agent's tools: made from the job (and the MCP servers' lists), and run.
struct AgentToolRunner: Sendable {
    let http: HTTPStepExecutor
    let shell: ShellExecutor
    let store: RunStore
    /// Other jobs (``RunCoordinator/jobs``).
    let jobs: JobLink?
    /// An ended run's outputs, by step.
    let outputs: @Sendable (RunSnapshot) -> [String: JSONValue]

    /// The tools of `work`: the job's, then each MCP server's allowlisted ones (the servers
    /// started here, stopped when the attempt ends).
    func toolbox(for work: AgentWork, logger: Logger) async throws(AgentToolbox.Problem) -> AgentToolbox {
        var toolbox = AgentToolbox()
        for tool in work.spec.tools {
            var schema = tool.schema ?? tool.derivedSchema
            if case .job(let job) = tool.action {
                guard let target = await jobs?.definition(job) else {
                    throw AgentToolbox.Problem(
                        description: "tool '\(tool.name)': job '\(job)' is not loaded (wfctl status)")
                }
                schema = Self.parameterSchema(of: target)
            }
            try toolbox.add(
                tool.name, description: tool.description ?? tool.name, schema: schema,
                effect: tool.effect ?? tool.defaultEffect, approve: tool.approve, action: .declared(tool.action))
        }
        if !work.spec.mcpServers.isEmpty {
            do {
                try await BlockingIO.shared.run { () throws(StoreError) in
                    try RecordFile.makeDirectory("\(work.runDirectory)/logs")
                }
            } catch {
                throw AgentToolbox.Problem(description: "cannot make the run's logs directory: \(error)")
            }
        }
        for server in work.spec.mcpServers {
            let client: MCPStdioClient
            do {
                client = try await MCPStdioClient.start(
                    server, environment: work.environment, workingDirectory: work.workingDirectory,
                    stderrPath: "\(work.runDirectory)/logs/\(work.step.rawValue).mcp-\(server.name).log",
                    timeout: .seconds(30))
            } catch {
                for started in toolbox.clients { await started.stop() }
                throw AgentToolbox.Problem(description: error.description)
            }
            toolbox.clients.append(client)
            do {
                let listed = try await client.tools(timeout: .seconds(30))
                for name in server.tools {
                    guard let tool = listed.first(where: { $0.name == name }) else {
                        let offered = listed.map(\.name).joined(separator: ", ")
                        throw MCPStdioClient.Failure(
                            description: "MCP server '\(server.name)' has no tool '\(name)' (it has: \(offered))")
                    }
                    try toolbox.add(
                        name, description: tool.description, schema: tool.inputSchema,
                        effect: server.effect ?? .effectful, approve: server.approve, action: .mcp(client, tool: name))
                }
            } catch let failure as MCPStdioClient.Failure {
                for started in toolbox.clients { await started.stop() }
                throw AgentToolbox.Problem(description: failure.description)
            } catch let problem as AgentToolbox.Problem {
                for started in toolbox.clients { await started.stop() }
                throw problem
            } catch {
                for started in toolbox.clients { await started.stop() }
                throw AgentToolbox.Problem(description: "\(error)")
            }
            logger.info("MCP server \(server.name) started: tools \(server.tools.joined(separator: ", "))")
        }
        return toolbox
    }

    /// A job's parameters as a tool's arguments: strings, required when the job requires them.
    static func parameterSchema(of job: Job) -> JSONValue {
        var properties: [String: JSONValue] = [:]
        var required: [JSONValue] = []
        for (name, param) in job.params.sorted(by: { $0.key < $1.key }) {
            var property: [String: JSONValue] = ["type": .string("string")]
            if let description = param.description { property["description"] = .string(description) }
            if let value = param.defaultValue { property["default"] = .string(value) }
            properties[name] = .object(property)
            if param.required && param.defaultValue == nil { required.append(.string(name)) }
        }
        return .object([
            "type": .string("object"), "properties": .object(properties), "required": .array(required),
            "additionalProperties": .bool(false),
        ])
    }

    /// Runs one call of a tool with `arguments` (already checked against its schema); a job
    /// tool's run has the id `run` (recorded before it starts, so a later attempt finds it).
    func perform(
        _ action: AgentToolbox.Action, arguments: JSONValue, work: AgentWork, log: String, timeout: Duration?,
        run: RunID?, control: StepControl, logger: Logger
    ) async -> ToolOutcome {
        switch action {
        case .declared(.job(let job)):
            guard let run else { return .done("the run has no id", failed: true) }
            return await start(job, run: run, arguments: arguments, work: work, timeout: timeout, control: control)
        case .declared(.http(let spec)):
            var values = work.values
            values.args = arguments
            let call: HTTPCall
            do {
                call = try HTTPCall.rendered(
                    spec, timeout: timeout, with: StepTemplates(values: values, item: work.itemValue),
                    secrets: work.secrets)
            } catch {
                return .done("The request could not be made: \(error.result.error ?? "")", failed: true)
            }
            let result = await http.execute(call, control: control, logger: logger)
            if result.outcome == .cancelled { return .cancelled(result.error ?? "cancelled") }
            let body = String(decoding: result.stdout ?? [], as: UTF8.self)
            guard result.outcome == .succeeded else {
                return .done(result.error ?? "the request failed", failed: true)
            }
            return .done("HTTP \(result.http?.status ?? 200)\n\(body)", failed: false)
        case .declared(.run(let command)):
            var environment = work.environment
            environment["WF_ARGS"] = arguments.jsonText
            if case .object(let fields) = arguments {
                for (name, value) in fields {
                    let text: String? =
                        switch value {
                        case .string(let said): said
                        case .number, .bool: value.jsonText
                        default: nil
                        }
                    if let text { environment["WF_ARG_\(StepEnvironmentNames.variablePart(name))"] = text }
                }
            }
            var invocation = StepInvocation(
                job: work.job, run: work.run, step: work.step, attempt: work.attempt, command: command,
                environment: environment, workingDirectory: work.workingDirectory, timeout: timeout ?? .seconds(600),
                logFile: "\(work.runDirectory)/\(log)")
            invocation.item = work.item
            invocation.redactor = work.redactor
            let result = await shell.execute(invocation, control: control, logger: logger)
            let output = String(decoding: result.stdout ?? [], as: UTF8.self)
            switch result.outcome {
            case .succeeded: return .done(output, failed: false)
            case .cancelled: return .cancelled(result.error ?? "cancelled")
            default:
                return .done(
                    (result.error ?? "the command failed") + (output.isEmpty ? "" : "\n\(output)"), failed: true)
            }
        case .mcp(let client, let tool):
            do {
                let answer = try await client.call(tool, arguments: arguments, timeout: timeout ?? .seconds(300))
                return .done(answer.text, failed: answer.isError)
            } catch {
                return .done(error.description, failed: true)
            }
        }
    }
}

/// Job tools: a run of another job, started through its inbox with an id fixed beforehand (a
/// later attempt that finds the run, or the trigger, does not start it again), then awaited.
extension AgentToolRunner {
    func start(
        _ job: JobID, run: RunID, arguments: JSONValue, work: AgentWork, timeout: Duration?, control: StepControl
    ) async -> ToolOutcome {
        let directory = store.directory
        let known = await BlockingIO.shared.run {
            FileManager.default.fileExists(atPath: directory.runRecord(job, run))
                || TriggerInbox.holds(job, run, in: directory)
        }
        if !known {
            guard let jobs else { return .done("jobs cannot be started here", failed: true) }
            var params: [String: String] = [:]
            if case .object(let fields) = arguments {
                for (name, value) in fields { params[name] = value.environmentText }
            }
            var pending = PendingTrigger(
                job: job, run: run, sequence: TriggerSequence.next(), kind: .job,
                origin: TriggerOrigin(
                    source: "agent step \(work.step) of job \(work.job)", delivery: work.run.rawValue,
                    receivedAt: Date()),
                payload: JSONValue.object([
                    "job": .string(work.job.rawValue), "run": .string(work.run.rawValue),
                    "step": .string(work.step.rawValue), "arguments": arguments,
                ]).jsonText)
            pending.params = params
            if case .refused(let why) = await jobs.start(pending) {
                return .done("job \(job) did not start: \(why)", failed: true)
            }
        }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let ended = await HTTPStepExecutor.race(control: control) { [store] () -> RunSnapshot? in
            while deadline.map({ ContinuousClock.now < $0 }) ?? true {
                if let snapshot = try? store.loadSnapshot(job, run), snapshot.run.state.isTerminal { return snapshot }
                do {
                    try await Task.sleep(for: .milliseconds(100))
                } catch {
                    return nil
                }
            }
            return nil
        }
        switch ended {
        case .stopped(let reason): return .cancelled(reason)
        case .finished(nil): return .done("run \(run) of job \(job) did not end in time; it goes on", failed: true)
        case .finished(let snapshot?):
            var result: [String: JSONValue] = [
                "run": .string(run.rawValue), "state": .string(snapshot.run.state.rawValue),
                "outputs": .object(outputs(snapshot)),
            ]
            if let error = snapshot.run.error { result["error"] = .string(error) }
            return .done(JSONValue.object(result).jsonText, failed: snapshot.run.state != .succeeded)
        }
    }
}
