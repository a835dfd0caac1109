import ArgumentParser
import Foundation
import WorkflowControl
import WorkflowStore

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the running wfd's metrics in Prometheus's text format.",
        discussion: """
            What wfd-web serves at /metrics, for hosts without it (a node_exporter textfile \
            collector, a cron'd scrape): runs ended by job and state, step attempts by job, kind \
            and outcome, run and step durations, schedule lateness, model calls, tokens and cost by \
            job and model, budget refusals, approvals waiting and the oldest wait, active runs, \
            quarantined records, wfd's start-up time and resident memory. Counters count from \
            wfd's start. Example: wfctl metrics > /var/lib/node_exporter/wfd.prom.$$ && mv \
            /var/lib/node_exporter/wfd.prom.$$ /var/lib/node_exporter/wfd.prom
            Exit codes: 0 printed, 1 wfd could not answer, 69 wfd is not running, 77 permission denied.
            """
    )

    @OptionGroup var options: StateOptions

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        let response = try sendToDaemon(
            .status(.metrics), state: options.directory, socket: daemon.socket, timeout: .seconds(30))
        guard response.ok else { throw CommandFailure(description: response.message, code: response.exitCode) }
        FileHandle.standardOutput.write(Data(response.message.utf8))
    }
}
