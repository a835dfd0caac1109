import Foundation

/// Where wfd keeps its state and reads its jobs.
///
/// A flag wins (it is the most specific statement of intent: a unit that wants other paths passes
/// flags); else the directories systemd sets (`$STATE_DIRECTORY`, `$CONFIGURATION_DIRECTORY/jobs.d`);
/// else `/var/lib/wfd` and `/etc/wfd/jobs.d`.
struct Directories: Equatable {
    var state: String
    var jobs: String
    /// The control socket: in `$RUNTIME_DIRECTORY` under systemd, else in the state directory.
    var socket: String

    static func resolve(stateFlag: String?, jobsFlag: String?, environment: [String: String]) -> Directories {
        func first(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value.split(separator: ":").first.map(String.init)
        }
        let state = stateFlag ?? first("STATE_DIRECTORY") ?? "/var/lib/wfd"
        let jobs = jobsFlag ?? first("CONFIGURATION_DIRECTORY").map { "\($0)/jobs.d" } ?? "/etc/wfd/jobs.d"
        let socket = first("RUNTIME_DIRECTORY").map { "\($0)/control.sock" } ?? "\(absolute(state))/control.sock"
        return Directories(state: absolute(state), jobs: absolute(jobs), socket: socket)
    }

    static func absolute(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: absolute).standardizedFileURL.path  // no ./ or ../ in what is logged
    }
}
