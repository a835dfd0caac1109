import Foundation
import Glibc

/// Where wfd's log goes, decided once at start-up.
public enum LogSink: String, Sendable {
    case journal, stderr

    /// The journal when stderr is connected to it (`$JOURNAL_STREAM` matches fd 2's `dev:inode`, as
    /// under a systemd service); plain text on stderr otherwise, so a foreground `wfd` in a terminal
    /// or under a test logs where it can be seen even on a host whose journald is running.
    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> LogSink {
        if let stream = environment["JOURNAL_STREAM"] {
            var info = stat()
            if fstat(2, &info) == 0, stream == "\(info.st_dev):\(info.st_ino)" { return .journal }
        }
        return .stderr
    }
}
