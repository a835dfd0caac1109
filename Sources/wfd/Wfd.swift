import ArgumentParser
import Foundation
import JobFormat
import Logging
import ServiceLifecycle
import SystemdSupport
import UnixSignals
import WorkflowControl
import WorkflowEngine
import WorkflowMetrics
import WorkflowReports
import WorkflowStore
import WorkflowTracing

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Wfd: AsyncParsableCommand {
    static let version = WfdVersion.current

    static let configuration = CommandConfiguration(
        commandName: "wfd",
        abstract: "The wfd workflow daemon: runs the jobs in jobs.d on their schedules, durably.",
        discussion: """
            wfd is meant to run as a systemd service (Type=notify): see systemd/wfd.service. \
            In the foreground it logs to stderr:

              wfd --jobs ./jobs.d --state ./state

            Directories: a flag wins; else $STATE_DIRECTORY and $CONFIGURATION_DIRECTORY/jobs.d \
            (set by systemd's StateDirectory= and ConfigurationDirectory=); else /var/lib/wfd and \
            /etc/wfd/jobs.d. SIGHUP reloads jobs.d; SIGTERM stops: running steps get SIGTERM, a \
            grace period, then SIGKILL, and are recorded as cancelled — except steps running as \
            systemd units (the default under systemd), which go on and are followed again by the \
            next wfd.
            """,
        version: version + "\nstep executor here: "
            + (UnitExecutorSetup.obstacle(choice: .auto, environment: ProcessInfo.processInfo.environment)
                .map { "process (\($0))" } ?? "unit (transient services in wfd.slice)")
    )

    @Option(help: ArgumentHelp("The state directory (the database).", valueName: "dir"))
    var state: String?

    @Option(help: ArgumentHelp("The directory of job files.", valueName: "dir"))
    var jobs: String?

    @Option(help: "Where to log: auto (the journal under systemd, else stderr), journal or stderr.")
    var logTarget: LogTarget = .auto

    @Option(help: "The lowest level logged: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: ArgumentHelp("Seconds a step gets between SIGTERM and SIGKILL when stopped.", valueName: "seconds"))
    var stopGrace: Int = 10

    @Option(
        help: ArgumentHelp(
            "How run steps start: auto (units when started by systemd and the system bus answers, else processes), unit or process.",
            valueName: "kind"))
    var executor: UnitExecutorSetup.Choice = .auto

    @Option(
        help: ArgumentHelp(
            "Members of this group may send commands with wfctl (run, retry, cancel, approve, reject, reload), as root and wfd's user may.",
            valueName: "group"))
    var controlGroup: String = "wfd"

    @Option(
        help: ArgumentHelp(
            "The user wfd-web runs as: it may send commands on behalf of its callers, who are then held to the same rules and named in the records. Empty: nobody.",
            valueName: "user"))
    var webUser: String = "wfd-web"

    @Option(help: ArgumentHelp("Runs kept per job when its file sets no retention.keep_runs.", valueName: "n"))
    var keepRuns: Int = 1000

    @Option(help: ArgumentHelp("Days runs are kept when a job's file sets no retention.keep_days.", valueName: "days"))
    var keepDays: Int = 30

    @Option(
        help: ArgumentHelp(
            "Model prices (US dollars per million tokens); default $CONFIGURATION_DIRECTORY/prices.yaml, else /etc/wfd/prices.yaml.",
            valueName: "file"))
    var prices: String?

    @Option(
        help: ArgumentHelp(
            "Run the scheduler's clock this many times faster than the real one (benchmarks only).",
            visibility: .hidden))
    var clockSpeed: Double = 1

    enum LogTarget: String, ExpressibleByArgument, CaseIterable { case auto, journal, stderr }

    /// The prices file: the flag's (which must exist), else the configuration directory's or
    /// /etc/wfd's when there is one. Without one, model calls have no known cost (and jobs with a
    /// `usd` budget cannot call models), which is said once.
    static func loadPrices(flag: String?, environment: [String: String], logger: Logger) -> PriceTable {
        let candidates =
            flag.map { [$0] }
            ?? [
                environment["CONFIGURATION_DIRECTORY"].map { "\($0.split(separator: ":").first ?? "")/prices.yaml" },
                "/etc/wfd/prices.yaml",
            ].compactMap { $0 }
        for path in candidates {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                if flag != nil { fail("cannot read the prices file \(path): \(String(cString: strerror(errno)))") }
                continue
            }
            do {
                let table = try PriceTable.parse(text, path: path)
                logger.info(
                    "prices of \(table.models.count) models from \(path) (checked \(table.checked ?? "at an unknown date"))"
                )
                return table
            } catch {
                fail("\(error)")
            }
        }
        logger.notice(
            "no prices file (\(candidates.joined(separator: ", "))): model calls have no known cost; copy config/prices.yaml there"
        )
        return PriceTable()
    }

    func validate() throws {
        guard stopGrace >= 0, stopGrace <= 3600 else { throw ValidationError("--stop-grace must be 0 to 3600 seconds") }
        guard keepRuns >= 1 else { throw ValidationError("--keep-runs must be at least 1") }
        guard keepDays >= 1 else { throw ValidationError("--keep-days must be at least 1") }
    }

    func run() async throws {
        let started = ContinuousClock.now
        signal(SIGPIPE, SIG_IGN)
        let environment = ProcessInfo.processInfo.environment
        let directories = Directories.resolve(stateFlag: state, jobsFlag: jobs, environment: environment)
        let sink: LogSink =
            switch logTarget {
            case .auto: LogSink.detect(environment: environment)
            case .journal: .journal
            case .stderr: .stderr
            }
        let level = logLevel
        LoggingSystem.bootstrap { _ in
            var handler: any LogHandler =
                sink == .journal ? JournalLogHandler(identifier: "wfd") : StderrLogHandler()
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "wfd")
        let stateDirectory = StateDirectory(root: directories.state)
        let daemonLock: FileLock
        do {
            try RecordFile.makeDirectory(directories.state)
            daemonLock = try Self.takeDaemonLock(stateDirectory)
        } catch {
            Self.fail("\(error)")
        }
        // Under the daemon lock, before anything else reads the directory.
        do {
            for format in try StateFormat.prepare(stateDirectory, writtenBy: "wfd \(Self.version)") {
                logger.notice("upgraded the state directory \(directories.state) to format \(format)")
            }
        } catch {
            Self.fail("\(error)")
        }
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directories.jobs, isDirectory: &isDirectory)
            || !isDirectory.boolValue
        {
            logger.warning("the jobs directory \(directories.jobs) does not exist yet; create it and reload")
        }
        logger.info(
            "wfd \(Self.version) starting: jobs \(directories.jobs), state \(directories.state), log \(sink.rawValue)")

        if clockSpeed != 1 {
            guard clockSpeed > 0, clockSpeed <= 10_000 else { Self.fail("--clock-speed must be in (0, 10000]") }
            logger.warning("the scheduler's clock runs \(clockSpeed) times faster than the real one (a benchmark)")
        }
        var configuration = Scheduler.Configuration(
            jobsDirectory: directories.jobs, state: stateDirectory, hostZone: .current,
            daemonEnvironment: environment, retention: Retention(keepRuns: keepRuns, keepDays: keepDays))
        configuration.prices = Self.loadPrices(flag: prices, environment: environment, logger: logger)
        let metrics = DaemonMetrics()
        let traces = TracesService.make(environment: environment, version: Self.version, logger: logger)
        let transcriptStore = RunStore(directory: stateDirectory)
        let tracer = traces.map {
            RunTracer(exporter: $0.exporter) { RunDetail.transcripts(of: $0, in: transcriptStore) }
        }
        configuration.observeRuns = {
            metrics.observe($0.event, $0.snapshot)
            tracer?.observe($0.event, $0.snapshot)
        }
        let executors: StepExecutors
        switch await UnitExecutorSetup.make(
            choice: executor, environment: environment, gracePeriod: .seconds(stopGrace), logger: logger)
        {
        case .success(let made): executors = made
        case .failure(let error): Self.fail("--executor unit: \(error)")
        }
        let endpoint =
            executors.unit == nil
            ? "" : ", over \(SystemdBus.preferredAddress(environment: environment) ?? "the system bus")"
        logger.info("run steps start as: \(executors.summary)\(endpoint)")
        let scheduler = Scheduler(
            configuration: configuration,
            clock: clockSpeed == 1 ? SystemClock() : ScaledClock(speed: clockSpeed),
            executor: executors,
            reporter: SystemdReporter(metrics: metrics, started: started),
            logger: logger)
        let hangups = HangupService(scheduler: scheduler)
        let watcher = JobsDirectoryWatcher(directory: directories.jobs, logger: logger) { touched in
            scheduler.reloadQuietly(touched: touched)
        }
        let clockMonitor = WallClockMonitor(logger: logger) { scheduler.clockChanged() }
        let control: ControlServer
        do {
            let delegates = webUser.isEmpty ? [] : ControlPolicy.userID(named: webUser).map { Set([$0]) } ?? []
            let policy = ControlPolicy(
                users: [0, geteuid()], groupName: controlGroup.isEmpty ? nil : controlGroup, delegates: delegates)
            if policy.groupID == nil, !controlGroup.isEmpty {
                logger.notice("group '\(controlGroup)' does not exist: only root and wfd's user may send commands")
            }
            let info = DaemonInfo(
                pid: getpid(), socket: directories.socket, startedAt: Date(), wfdVersion: Self.version)
            control = try ControlServer(
                path: directories.socket, scheduler: scheduler, policy: policy,
                daemon: StatusReport.Daemon(
                    running: true, pid: info.pid, startedAt: info.startedAt, version: info.wfdVersion,
                    executor: executors.preferred.rawValue),
                metrics: metrics, logger: logger)
            try RecordFile.write(info, to: stateDirectory.daemonInfo)
        } catch {
            Self.fail("cannot open the control socket: \(error)")
        }
        // Services stop in the reverse order: the traces go last, once the runs' last spans are made.
        let group = ServiceGroup(
            configuration: .init(
                services: (traces.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []) + [
                    .init(service: scheduler),
                    .init(service: hangups, successTerminationBehavior: .ignore),
                    .init(service: watcher, successTerminationBehavior: .ignore),
                    .init(service: clockMonitor, successTerminationBehavior: .ignore),
                    .init(service: control, successTerminationBehavior: .ignore),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        withExtendedLifetime(daemonLock) {}
    }

    /// Takes `wfd.lock`, allowing a moment for a `wfctl` probe that holds it shared.
    static func takeDaemonLock(_ state: StateDirectory) throws -> FileLock {
        for _ in 0..<50 {
            if let lock = try FileLock.tryLock(state.daemonLock) { return lock }
            usleep(20_000)
        }
        throw DaemonError(
            "another wfd is running on the state directory \(state.root) (\(state.daemonLock) is locked); "
                + "stop it first, or give this one its own --state")
    }

    static func fail(_ message: String) -> Never {
        let line = "wfd: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        SystemdNotifier().notify(["STATUS=failed: \(message)", "ERRNO=1"])
        Glibc.exit(1)
    }
}

struct DaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Turns SIGHUP into a reload of jobs.d.
struct HangupService: Service {
    let scheduler: Scheduler

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            scheduler.reload()
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension UnitExecutorSetup.Choice: ExpressibleByArgument {}
