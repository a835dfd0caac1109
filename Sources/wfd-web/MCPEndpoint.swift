import Foundation
import JSONSchemaKit
import MCP
import WebAPI
import WorkflowControl
import WorkflowMCP

/// `/mcp`: wfd as an MCP server over the protocol's streamable HTTP transport, stateless: each
/// request is answered by a server of its own, with its JSON (no session to keep, no stream).
/// Every request shows a bearer token (`wfctl token add`, any scope); each tool call is then the
/// API's request under that token, held to its scopes.
struct MCPEndpoint: Sendable {
    let api: WebAPI
    let tools: WfdTools
    let version: String

    /// `jobs`: where proposals go (`jobs.d/pending/`).
    init(api: WebAPI, jobs: String, version: String) {
        self.api = api
        tools = WfdTools(api: api, jobsDirectory: jobs, caller: nil)
        self.version = version
    }

    /// The answer to an HTTP request for `/mcp`: `headers` by name as they came.
    func respond(method: String, headers: [String: String], body: Data) async -> (
        status: Int, headers: [String: String], body: Data
    ) {
        let authorization = headers.first { $0.key.lowercased() == "authorization" }?.value
        if case .failure(let problem) = api.caller(authorization: authorization, needing: .read) {
            let text = JSONValue.object(["error": .string(problem.detail)]).jsonText
            return (
                problem.status, ["Content-Type": "application/json", "WWW-Authenticate": #"Bearer realm="wfd""#],
                Data(text.utf8)
            )
        }
        // wfd-web is often reached through a proxy by another name: no check of Origin or Host
        // here (a token is required instead); the protocol's other checks stay.
        let transport = StatelessHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: [
                AcceptHeaderValidator(mode: .jsonOnly), ContentTypeValidator(), ProtocolVersionValidator(),
            ]))
        let server = await tools.makeServer(version: version)
        do {
            try await server.start(transport: transport)
        } catch {
            return (500, ["Content-Type": "application/json"], Data(#"{"error": "the MCP server did not start"}"#.utf8))
        }
        let answer = await transport.handleRequest(
            HTTPRequest(method: method, headers: headers, body: body.isEmpty ? nil : body, path: "/mcp"))
        await server.stop()
        return (answer.statusCode, answer.headers, answer.bodyData ?? Data())
    }
}
