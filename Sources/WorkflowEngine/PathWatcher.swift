import Foundation
import JobFormat
import Logging
import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Watches the files of the jobs' path triggers (`on: { path: … }`) with inotify, as a systemd
/// `.path` unit's `PathChanged=` does: a file that matches a job's path or glob and is written and
/// closed, or moved in, counts; once the job's files have been quiet for its `debounce`, `fire`
/// hears the job and every file that changed, sorted. The directory of each path is watched
/// (one watch per directory, shared by the jobs in it); a directory that does not exist yet is
/// looked for again every second. When a job's watch begins, its files changed after `seenUntil`
/// says (what no wfd watched: wfd was stopped) count as changed.
///
/// The inotify descriptor is read on a thread of its own, so waiting never blocks the
/// concurrency pool.
final class PathWatcher: Sendable {
    let logger: Logger
    let fire: @Sendable (JobID, [String]) -> Void
    /// Until when the job's files were seen (its cursor; a job seen the first time gets now).
    let seenUntil: @Sendable (JobID) -> Date
    private let wanted = Locked<[JobID: Triggers]>([:])
    private let stopped = Locked(false)
    private let changed = Locked(true)

    init(
        logger: Logger, seenUntil: @escaping @Sendable (JobID) -> Date,
        fire: @escaping @Sendable (JobID, [String]) -> Void
    ) {
        self.logger = logger
        self.seenUntil = seenUntil
        self.fire = fire
    }

    /// Watches these jobs' paths from now on (and no others).
    func watch(_ triggers: [JobID: Triggers]) {
        wanted.withLock { $0 = triggers }
        changed.withLock { $0 = true }
    }

    func start() {
        let thread = Thread { self.run() }
        thread.name = "wfd-paths"
        thread.start()
    }

    /// Ends the watch within a second.
    func stop() { stopped.withLock { $0 = true } }

    /// A pattern, split: its directory and the glob of its last part.
    struct Pattern: Hashable {
        let directory: String
        let glob: String

        init(_ path: String) {
            let slash = path.lastIndex(of: "/") ?? path.startIndex
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
            glob = String(path[path.index(after: slash)...])
        }

        func matches(_ name: String) -> Bool { fnmatch(glob, name, FNM_PERIOD) == 0 }
    }

    private func run() {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else {
            logger.error("cannot watch the jobs' paths (inotify: \(String(cString: strerror(errno))))")
            return
        }
        defer { close(fd) }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
        var patterns: [JobID: (patterns: [Pattern], quiet: Duration)] = [:]
        var watches: [Int32: String] = [:]  // watch descriptor → directory
        var missing: Set<String> = []
        var lastLook = ContinuousClock.now
        var pending: [JobID: (paths: Set<String>, last: ContinuousClock.Instant)] = [:]
        var watching: Set<JobID> = []  // the jobs whose missed changes were looked for
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !stopped.withLock({ $0 }) {
            if changed.withLock({
                let was = $0; $0 = false; return was
            }) || (!missing.isEmpty && .now - lastLook > .seconds(1)) {
                lastLook = .now
                patterns = wanted.withLock { $0 }.mapValues { on in
                    (on.paths.map(Pattern.init), on.quietTime.duration)
                }
                let directories = Set(patterns.values.flatMap { $0.patterns.map(\.directory) })
                for (wd, directory) in watches where !directories.contains(directory) {
                    inotify_rm_watch(fd, wd)
                    watches[wd] = nil
                }
                missing = []
                for directory in directories where !watches.values.contains(directory) {
                    let wd = inotify_add_watch(fd, directory, mask)
                    if wd >= 0 {
                        watches[wd] = directory
                    } else {
                        missing.insert(directory)
                    }
                }
                pending = pending.filter { patterns[$0.key] != nil }
                for (job, wanted) in patterns where !watching.contains(job) {
                    let missed = Self.changed(wanted.patterns, since: seenUntil(job))
                    if !missed.isEmpty {
                        logger.info(
                            "\(missed.count) files changed while no wfd watched them", metadata: ["job": "\(job)"])
                        pending[job, default: ([], .now)].paths.formUnion(missed)
                    }
                }
                watching = Set(patterns.keys)
            }
            // With nothing to watch, a look a second at whether that changed is enough.
            var timeout: Int32 = patterns.isEmpty ? 1000 : 100
            if let soonest = pending.map({ $0.value.last + (patterns[$0.key]?.quiet ?? .zero) }).min() {
                let left = soonest - .now
                timeout = min(
                    100,
                    max(0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, timeout) > 0 {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    for (wd, name, lost) in Self.events(buffer, count: count) {
                        if lost {
                            if let directory = watches.removeValue(forKey: wd) { missing.insert(directory) }
                            continue
                        }
                        guard let directory = watches[wd] else { continue }
                        for (job, wanted) in patterns {
                            for pattern in wanted.patterns where pattern.directory == directory && pattern.matches(name)
                            {
                                let path = directory == "/" ? "/\(name)" : "\(directory)/\(name)"
                                pending[job, default: ([], .now)].paths.insert(path)
                                pending[job]?.last = .now
                            }
                        }
                    }
                }
                continue
            }
            let now = ContinuousClock.now
            for (job, waiting) in pending where now - waiting.last >= (patterns[job]?.quiet ?? .zero) {
                pending[job] = nil
                fire(job, waiting.paths.sorted())
            }
        }
    }

    /// The files matching `patterns` changed after `date`.
    static func changed(_ patterns: [Pattern], since date: Date) -> [String] {
        var found: [String] = []
        for pattern in patterns {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: pattern.directory)) ?? []
            where pattern.matches(name) {
                let path = pattern.directory == "/" ? "/\(name)" : "\(pattern.directory)/\(name)"
                var info = stat()
                guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
                let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
                if modified > date.timeIntervalSince1970 { found.append(path) }
            }
        }
        return found
    }

    /// The events in `buffer`: each one's watch, file name, and whether the watch was lost.
    static func events(_ buffer: [UInt8], count: Int) -> [(Int32, String, Bool)] {
        var found: [(Int32, String, Bool)] = []
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= count {
            let (wd, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                return (event.wd, event.mask, Int(event.len))
            }
            if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 {
                found.append((wd, "", true))
            } else if length > 0, mask & UInt32(IN_ISDIR) == 0 {
                let nameBytes = buffer[(offset + header)..<min(count, offset + header + length)].prefix { $0 != 0 }
                found.append((wd, String(decoding: nameBytes, as: UTF8.self), false))
            }
            offset += header + length
        }
        return found
    }
}
