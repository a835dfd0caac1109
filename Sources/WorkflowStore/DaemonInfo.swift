import Foundation

/// `state/daemon.json`: how to reach the running wfd. Written at start-up.
public struct DaemonInfo: Sendable, Codable, Equatable {
    public static let currentVersion = 1

    public var version: Int
    public var pid: Int32
    /// The control socket's path.
    public var socket: String
    public var startedAt: Date
    public var wfdVersion: String

    public init(pid: Int32, socket: String, startedAt: Date, wfdVersion: String) {
        version = Self.currentVersion
        self.pid = pid
        self.socket = socket
        self.startedAt = startedAt
        self.wfdVersion = wfdVersion
    }

    enum CodingKeys: String, CodingKey {
        case version, pid, socket
        case startedAt = "started_at"
        case wfdVersion = "wfd_version"
    }
}
