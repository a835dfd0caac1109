import Foundation
import Logging
import Testing
import WorkflowTesting

@testable import SystemdSupport

#if canImport(Glibc)
    import Glibc
#endif

/// These tests set `NOTIFY_SOCKET`/`WATCHDOG_*` in this process, so they run one at a time.
@Suite(.serialized) struct SystemdNotifierTests {
    @Test func sendsToTheNotifySocketAndSaysWhenNotUnderSystemd() async throws {
        let socket = try NotifySocket()
        setenv("NOTIFY_SOCKET", socket.address, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        let notifier = SystemdNotifier()
        #expect(notifier.ready(status: "2 jobs,\nnext soon") == .sent)
        #expect(notifier.reloading(status: "reloading") == .sent)
        #expect(notifier.stopping(status: "bye") == .sent)
        #expect(await socket.waitFor { $0.hasPrefix("STOPPING=1") } != nil)
        let messages = socket.messages
        #expect(messages[0] == "READY=1\nSTATUS=2 jobs, next soon")
        let reload = messages[1].split(separator: "\n")
        #expect(reload.first == "RELOADING=1")
        let monotonic = try #require(
            reload.first { $0.hasPrefix("MONOTONIC_USEC=") }.flatMap { UInt64($0.dropFirst(15)) })
        #expect(monotonic <= SystemdNotifier.monotonicMicroseconds())
        #expect(monotonic > 0)
        unsetenv("NOTIFY_SOCKET")
        #expect(notifier.watchdog() == .notUnderSystemd)
    }

    @Test func watchdogIntervalComesFromTheEnvironmentOnlyForThisProcess() {
        setenv("WATCHDOG_USEC", "3000000", 1)
        setenv("WATCHDOG_PID", String(getpid()), 1)
        #expect(SystemdNotifier().watchdogInterval() == .seconds(3))
        setenv("WATCHDOG_PID", "1", 1)
        #expect(SystemdNotifier().watchdogInterval() == nil)
        unsetenv("WATCHDOG_USEC")
        unsetenv("WATCHDOG_PID")
        #expect(SystemdNotifier().watchdogInterval() == nil)
    }
}

@Suite struct JournalFieldTests {
    @Test func metadataKeysBecomeValidJournalFieldNames() {
        #expect(JournalLogHandler.fieldName("run_id") == "RUN_ID")
        #expect(JournalLogHandler.fieldName("job") == "JOB")
        #expect(JournalLogHandler.fieldName("a-b.c") == "A_B_C")
        #expect(JournalLogHandler.fieldName("_x") == "X")
        #expect(JournalLogHandler.fieldName("9lives") == "LIVES")
        #expect(JournalLogHandler.fieldName("___") == nil)
        #expect(JournalLogHandler.fieldName(String(repeating: "k", count: 80))?.count == 64)
    }

    @Test func prioritiesFollowSyslog() {
        #expect(JournalLogHandler.priority(.debug) == 7)
        #expect(JournalLogHandler.priority(.info) == 6)
        #expect(JournalLogHandler.priority(.warning) == 4)
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.critical) == 2)
    }

    @Test func theJournalIsChosenOnlyWhenStderrIsConnectedToIt() {
        var info = stat()
        fstat(2, &info)
        #expect(LogSink.detect(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]) == .journal)
        #expect(LogSink.detect(environment: ["JOURNAL_STREAM": "1:2"]) == .stderr)
        #expect(LogSink.detect(environment: [:]) == .stderr)
    }
}

@Suite struct StderrLogHandlerTests {
    /// The hand-made time stamp reads as Foundation's ISO 8601 formatter reads the same instant.
    @Test func theTimeStampIsUTCWithMilliseconds() throws {
        let before = Date.now
        let stamp = StderrLogHandler.stamp()
        let after = Date.now
        #expect(stamp.utf8.count == 23)
        #expect(stamp.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}/) != nil)
        let parsed = try #require(ISO8601DateFormatter.withMilliseconds.date(from: stamp + "Z"))
        // The stamp truncates to the millisecond: it may read up to 1 ms before `before`.
        #expect(parsed >= before.addingTimeInterval(-0.001))
        #expect(parsed <= after)
    }
}

extension ISO8601DateFormatter {
    fileprivate static var withMilliseconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
