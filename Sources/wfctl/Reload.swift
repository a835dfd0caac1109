import ArgumentParser
import Foundation
import WorkflowControl
import WorkflowStore

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the running wfd re-read jobs.d; returns once the new jobs are in effect.",
        discussion: """
            wfd also picks up changes in jobs.d by itself within a fraction of a second; reload is \
            for scripts that must know the change is in effect, and for systemd's ExecReload=. \
            Exit codes: 0 reloaded, 1 the reload failed, 69 wfd is not running, 77 permission denied.
            """
    )

    @OptionGroup var options: StateOptions

    @OptionGroup var daemon: DaemonOptions

    @Flag(help: "Print wfd's answer as JSON: {\"ok\", \"message\", \"error\"}.")
    var json = false

    func run() throws {
        let response = try sendToDaemon(.reload, state: options.directory, socket: daemon.socket, timeout: .seconds(90))
        if json {
            FileHandle.standardOutput.write(try ControlFraming.encode(response))
        } else if response.ok {
            print(response.message)
        }
        guard response.ok else {
            throw CommandFailure(
                description: response.message, code: response.exitCode)
        }
    }
}
