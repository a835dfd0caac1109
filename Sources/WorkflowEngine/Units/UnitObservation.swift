import Foundation
import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Reads what a unit appended to its output files since the last read, into the attempt's sink.
final class OutputFollower: Sendable {
    private struct State {
        var descriptors: [ProcessReactor.Stream: Int32] = [:]
    }

    private let paths: [(ProcessReactor.Stream, String)]
    private let sink: OutputSink
    private let state = Locked(State())

    init(output: UnitProperties.Output, sink: OutputSink) {
        paths = [(.stdout, output.stdout), (.stderr, output.stderr)]
        self.sink = sink
    }

    /// Reads both files to their current end (systemd creates them when the unit starts).
    func read() {
        state.withLock { state in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            for (stream, path) in paths {
                if state.descriptors[stream] == nil {
                    let fd = open(path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { continue }
                    state.descriptors[stream] = fd
                }
                guard let fd = state.descriptors[stream] else { continue }
                while true {
                    let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    guard count > 0 else { break }
                    sink.consume(Array(buffer.prefix(count)), from: stream)
                }
            }
        }
    }

    func close() {
        state.withLock { state in
            for fd in state.descriptors.values { Glibc.close(fd) }
            state.descriptors = [:]
        }
    }
}

/// The highest memory and task counts of a unit's cgroup, from samples.
final class UsageSampler: Sendable {
    private struct State {
        var memoryPeak: UInt64?
        var tasksPeak: Int?
    }

    private let state = Locked(State())
    let root: String

    /// `root`: where the unified (v2) cgroup tree is mounted: /sys/fs/cgroup, or on a hybrid
    /// host /sys/fs/cgroup/unified.
    init(root: String = UsageSampler.unifiedRoot) {
        self.root = root
    }

    static let unifiedRoot: String = {
        let hybrid = "/sys/fs/cgroup/unified"
        return FileManager.default.fileExists(atPath: hybrid + "/cgroup.procs") ? hybrid : "/sys/fs/cgroup"
    }()

    var memoryPeak: UInt64? { state.withLock { $0.memoryPeak } }
    var tasksPeak: Int? { state.withLock { $0.tasksPeak } }

    /// One sample: `memory.peak` (or `memory.current`) where the memory controller is on the
    /// unit's cgroup, else the resident memory of its processes; its threads for tasks.
    func sample(controlGroup: String) {
        let directory = root + controlGroup
        let threads = Self.lines(directory + "/cgroup.threads")
        guard let threads else { return }  // the cgroup is gone
        var memory = Self.number(directory + "/memory.peak") ?? Self.number(directory + "/memory.current")
        if memory == nil {
            memory = (Self.lines(directory + "/cgroup.procs") ?? []).reduce(UInt64(0)) { total, pid in
                total + (ProcessMemory.residentBytes(of: String(pid)) ?? 0)
            }
        }
        state.withLock {
            if let memory, memory > 0 { $0.memoryPeak = max($0.memoryPeak ?? 0, memory) }
            if !threads.isEmpty { $0.tasksPeak = max($0.tasksPeak ?? 0, threads.count) }
        }
    }

    private static func text(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private static func lines(_ path: String) -> [Substring]? {
        text(path).map { $0.split(separator: "\n") }
    }

    private static func number(_ path: String) -> UInt64? {
        text(path).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
