import ArgumentParser
import Dispatch
import Foundation
import MCP
import RuntimeSupport
import WebAPI
import WorkflowControl
import WorkflowMCP
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

struct MCPServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve wfd to an AI assistant over the Model Context Protocol, on stdin and stdout.",
        discussion: """
            For a local assistant (Claude Desktop, an IDE, an agent): it starts this command and \
            speaks MCP over its stdin and stdout. Tools: list_jobs, read_job, job_schema, \
            validate_job, propose_job (writes jobs.d/pending/ only: a person promotes it), \
            list_runs, read_run, why, pending_approvals (read only: an assistant never decides an \
            approval), preview_run, start_run, retry_run, cancel_run (as you: wfd's rules for your \
            user apply). Resources: wfd://jobs/<job> (the file), wfd://runs/<run> (the record). \
            Over the network, wfd-web serves the same at /mcp with a token.

            Example (an assistant's configuration):
              {"mcpServers": {"wfd": {"command": "wfctl", "args": ["mcp"]}}}

            Exit codes: 0 the assistant hung up.
            """
    )

    @OptionGroup var jobs: JobsDirectoryOption
    @OptionGroup var options: StateOptions

    func run() throws {
        let state = options.directory
        let api = WebAPI(state: state, link: ControlSocketLink(state: state, delegating: false))
        let tools = WfdTools(api: api, jobsDirectory: jobs.directory, caller: Caller(uid: getuid(), gid: getgid()))
        let finished = DispatchSemaphore(value: 0)
        let failure = Locked<String?>(nil)
        Task {
            do {
                let server = await tools.makeServer(version: WfdVersion.current)
                try await server.start(transport: StdioTransport())
                await server.waitUntilCompleted()
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            finished.signal()
        }
        finished.wait()
        if let message = failure.withLock({ $0 }) {
            throw CommandFailure(description: "the MCP server stopped: \(message)", code: .failed)
        }
    }
}
