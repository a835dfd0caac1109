import Foundation
import JobFormat
import Logging
import RuntimeSupport
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Watches `jobs.d` with inotify and calls `onChange` once the directory has been quiet for
/// ``debounce`` after a change to a job file: creates, writes, deletes, renames (editors save by
/// rename), and mode changes. `onChange` hears the names of the files touched, or nil when they
/// are not known (the event queue overflowed, the directory appeared or was replaced): then every
/// file must be looked at. A missing directory is watched for once a second until it appears; a
/// directory that is removed or replaced is watched again.
///
/// The inotify descriptor is read on a thread of its own, so waiting never blocks the concurrency
/// pool.
public final class JobsDirectoryWatcher: Service, Sendable {
    public let directory: String
    public let debounce: Duration
    let onChange: @Sendable (Set<String>?) -> Void
    let logger: Logger
    /// False: look at the directory every ``pollInterval`` (what wfd does when the kernel gives
    /// it no inotify instance: `fs.inotify.max_user_instances` is per user, 128 by default).
    let inotify: Bool
    let pollInterval: Duration
    private let stopped = Locked(false)

    public init(
        directory: String, debounce: Duration = .milliseconds(50), logger: Logger, inotify: Bool = true,
        pollInterval: Duration = .seconds(1), onChange: @escaping @Sendable (Set<String>?) -> Void
    ) {
        self.directory = directory
        self.debounce = debounce
        self.logger = logger
        self.inotify = inotify
        self.pollInterval = pollInterval
        self.onChange = onChange
    }

    public func run() async throws {
        await runOnOwnThread(named: "wfd-inotify", stop: { self.stop() }) { self.watch() }
    }

    /// Ends the watch within about 100 ms.
    public func stop() { stopped.withLock { $0 = true } }

    private var isStopped: Bool { stopped.withLock { $0 } }

    private func watch() {
        let fd = inotify ? inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK)) : -1
        guard fd >= 0 else {
            if inotify {
                let why = String(cString: strerror(errno))
                logger.warning(
                    "cannot watch \(directory) with inotify (\(why)): looking at it every \(pollInterval) instead (fs.inotify.max_user_instances may be too low)"
                )
            }
            lookEveryInterval()
            return
        }
        defer { close(fd) }
        let mask = UInt32(
            IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_ATTRIB
                | IN_DELETE_SELF
                | IN_MOVE_SELF | IN_ONLYDIR)
        var watch: Int32 = -1
        var warned = false
        var pendingSince: ContinuousClock.Instant?
        var touched: Set<String>? = []  // nil: not known, look at every file
        var lastEvent = ContinuousClock.now
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !isStopped {
            if watch < 0 {
                watch = inotify_add_watch(fd, directory, mask)
                if watch < 0 {
                    if !warned {
                        logger.warning(
                            "cannot watch \(directory) yet (\(String(cString: strerror(errno)))); retrying every second"
                        )
                        warned = true
                    }
                    Thread.sleep(forTimeInterval: 1)
                    continue
                }
                if warned {
                    warned = false
                    pendingSince = pendingSince ?? .now  // it appeared: load what is in it
                    touched = nil
                    lastEvent = .now
                }
            }
            var timeout: Int32 = 100
            if pendingSince != nil {
                let remaining = (lastEvent + debounce) - .now
                timeout = max(
                    0,
                    Int32(
                        remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000))
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, timeout)
            if ready > 0 {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    let (names, everything, lost) = Self.scan(buffer, count: count)
                    if lost {
                        inotify_rm_watch(fd, watch)
                        watch = -1
                        warned = true  // re-add quietly, then reload
                        pendingSince = pendingSince ?? .now
                        touched = nil
                        lastEvent = .now
                    } else if everything || !names.isEmpty {
                        pendingSince = pendingSince ?? .now
                        touched = everything ? nil : touched?.union(names)
                        lastEvent = .now
                    }
                }
                continue
            }
            if pendingSince != nil, ContinuousClock.now - lastEvent >= debounce {
                pendingSince = nil
                onChange(touched)
                touched = []
            }
        }
    }

    /// Without inotify: the job files' names, sizes, times and modes compared every
    /// ``pollInterval``; `onChange` hears the names that changed.
    private func lookEveryInterval() {
        var last = Self.listing(directory)
        var next = ContinuousClock.now + pollInterval
        while !isStopped {
            Thread.sleep(forTimeInterval: 0.1)
            guard ContinuousClock.now >= next else { continue }
            next = ContinuousClock.now + pollInterval
            let now = Self.listing(directory)
            let changed = Set(now.keys).symmetricDifference(last.keys).union(
                now.keys.filter { last[$0] != nil && last[$0] != now[$0] })
            last = now
            if !changed.isEmpty { onChange(changed) }
        }
    }

    /// Each job file's size, modification time and mode.
    static func listing(_ directory: String) -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where JobParser.isJobFileName(name) {
            var info = stat()
            guard stat("\(directory)/\(name)", &info) == 0 else { continue }
            result[name] = [
                Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec), Int(info.st_mode),
                Int(info.st_ino),
            ]
        }
        return result
    }

    /// The job files the events in `buffer` touch; whether every file must be looked at (events
    /// were lost); and whether the watch itself was lost.
    static func scan(_ buffer: [UInt8], count: Int) -> (names: Set<String>, everything: Bool, lost: Bool) {
        var names: Set<String> = []
        var everything = false
        var lost = false
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= count {
            let (mask, length) = buffer.withUnsafeBytes { raw -> (UInt32, Int) in
                let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                return (event.mask, Int(event.len))
            }
            if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW) != 0 {
                lost = lost || mask & UInt32(IN_Q_OVERFLOW) == 0
                everything = true
            } else if length > 0 {
                let nameBytes = buffer[(offset + header)..<min(count, offset + header + length)].prefix { $0 != 0 }
                let name = String(decoding: nameBytes, as: UTF8.self)
                if JobParser.isJobFileName(name) { names.insert(name) }
            }
            offset += header + length
        }
        return (names, everything, lost)
    }
}
