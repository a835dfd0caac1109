import ArgumentParser
import Foundation
import WebAPI
import WebUI
import WorkflowControl
import WorkflowStore

@main
struct WfdWeb: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wfd-web",
        abstract: "wfd's HTTP API: reads wfd's state directory and answers over HTTP.",
        discussion: """
            Installed as a service it is started by systemd when a client connects to \
            /run/wfd/web.sock (wfd-web.socket); wfd itself does not need it. See docs/web.md.

            Examples:
              curl --unix-socket /run/wfd/web.sock http://wfd/api/v1/jobs
              wfd-web serve --listen unix:/tmp/web.sock --state ./state
              wfd-web openapi > openapi.yaml
            """,
        version: WfdVersion.current,
        subcommands: [Serve.self, PrintOpenAPI.self],
        defaultSubcommand: Serve.self
    )
}

struct PrintOpenAPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Print the OpenAPI 3.1 document of the API (also served at /api/openapi.yaml).")

    func run() {
        print(OpenAPIDocument.text, terminator: "")
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer HTTP on the sockets systemd passes (socket activation) or on --listen addresses.",
        discussion: """
            Without --listen, wfd-web serves the sockets systemd hands it (LISTEN_FDS, from \
            wfd-web.socket) and fails if there are none.

            Exit codes: 0 stopped, 1 a socket could not be served, 64 usage.
            """)

    @Option(
        name: .customLong("listen"),
        help: ArgumentHelp(
            "Where to listen: unix:PATH (made 0660; callers known by the socket) or HOST:PORT (bearer tokens). Repeat for several.",
            valueName: "address"))
    var addresses: [String] = []

    @Option(help: ArgumentHelp("wfd's state directory (default: $WFD_STATE_DIR, else /var/lib/wfd).", valueName: "dir"))
    var state: String?

    @Option(
        help: ArgumentHelp(
            "The bearer tokens requests over TCP must show (wfctl token add).", valueName: "path"))
    var tokens: String = AccessTokens.defaultPath

    @Option(
        help: ArgumentHelp(
            "The key the web UI signs its sessions and CSRF tokens with (made on first use; default "
                + "$STATE_DIRECTORY/session.key, as wfd-web.service sets it; without either, a key in memory, and "
                + "sessions end with the process).",
            valueName: "file"))
    var sessionKey: String?

    @Option(help: ArgumentHelp("Seconds an idle connection is kept open.", valueName: "seconds"))
    var idleTimeout: Int = 60

    @Option(
        help: ArgumentHelp(
            "The jobs directory, where /mcp's propose_job writes drafts (pending/) (default: $WFD_JOBS_DIR, else /etc/wfd/jobs.d).",
            valueName: "dir"))
    var jobs: String?

    func validate() throws {
        for address in addresses where Listener(address) == nil {
            throw ValidationError(
                "'\(address)' is not an address: give unix:/path/to.sock or HOST:PORT (127.0.0.1:8737)")
        }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be at least 1") }
    }

    func run() async throws {
        let root = state ?? ProcessInfo.processInfo.environment["WFD_STATE_DIR"] ?? "/var/lib/wfd"
        var listeners = addresses.compactMap(Listener.init)
        if listeners.isEmpty {
            listeners = Listener.activated()
            guard !listeners.isEmpty else {
                throw ValidationError(
                    "no socket to serve: start wfd-web through wfd-web.socket (systemctl start wfd-web.socket), or give --listen"
                )
            }
        }
        let source = TokenSource(path: tokens)
        let api = WebAPI(state: StateDirectory(root: root), tokens: source)
        let key =
            sessionKey ?? ProcessInfo.processInfo.environment["STATE_DIRECTORY"].map { $0 + "/session.key" }
        let ui = WebUI(api: api, sessionKey: key, tokens: source)
        let jobsDirectory = jobs ?? ProcessInfo.processInfo.environment["WFD_JOBS_DIR"] ?? "/etc/wfd/jobs.d"
        do {
            let mcp = MCPEndpoint(api: api, jobs: jobsDirectory, version: WfdVersion.current)
            try await HTTPServer(ui: ui, mcp: mcp, idleTimeout: idleTimeout).serve(listeners)
        } catch {
            FileHandle.standardError.write(Data("wfd-web: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
