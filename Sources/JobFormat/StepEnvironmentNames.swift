import Foundation

/// Environment variable names a job may not set.
public enum StepEnvironmentNames {
    public static let reserved: Set<String> = [
        "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
        "INVOCATION_ID", "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY",
        "CONFIGURATION_DIRECTORY", "RUNTIME_DIRECTORY", "CACHE_DIRECTORY", "LOGS_DIRECTORY", "MAINPID",
    ]

    /// A name as part of a variable (`WF_PARAM_<NAME>`, `WF_SECRET_<NAME>`): upper-cased,
    /// anything but ASCII letters and digits as `_`.
    public static func variablePart(_ name: String) -> String {
        let bytes = name.utf8
        guard bytes.allSatisfy({ $0 < 0x80 }) else {
            return String(name.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        }
        // ASCII (every id, most names): byte by byte, without Unicode case mapping.
        return String(
            decoding: bytes.map { byte -> UInt8 in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - 32
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): byte
                default: UInt8(ascii: "_")
                }
            }, as: UTF8.self)
    }

    /// `WF_SECRET_<NAME>`: how a `run` step that names a secret receives it.
    public static func secretName(_ name: String) -> String { "WF_SECRET_\(variablePart(name))" }
}
