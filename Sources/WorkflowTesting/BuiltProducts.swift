import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Finds the package's built executables for tests that run them.
public enum BuiltProducts {
    /// The directory with `wfd` and `wfctl`: `$WFD_BIN_DIR`, else the test bundle's own directory
    /// (SwiftPM puts products and the test binary side by side).
    public static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["WFD_BIN_DIR"], !dir.isEmpty { return dir }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // Inside `wfdPackageTests.xctest/...` on some layouts: climb to the products directory.
        while directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
        return directory.path
    }

    /// The path of the built `name`, checked to exist.
    public static func path(_ name: String) throws -> String {
        let candidate = "\(directory)/\(name)"
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw TestKitError("\(candidate) is not built: run 'swift build' first (or set WFD_BIN_DIR)")
        }
        return candidate
    }

    /// The package's root directory (where `Package.swift` is), from this source file's location.
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
}

/// How much longer than usual the tests wait for things: `WFD_TEST_TIMEOUT_SCALE` (default 1).
/// `make sanitize` sets it, because every process of a sanitized build runs several times slower.
public let testTimeoutScale: Double = {
    let value = ProcessInfo.processInfo.environment["WFD_TEST_TIMEOUT_SCALE"].flatMap(Double.init) ?? 1
    return max(value, 1)
}()

/// The sanitizer settings of this test process (`make sanitize`), which every program the tests
/// start keeps, whatever environment a test gives it: a sanitized wfctl must not print a leak
/// report into the output a test reads.
public func withSanitizerOptions(_ environment: [String: String]) -> [String: String] {
    let own = ProcessInfo.processInfo.environment.filter { $0.key.hasSuffix("SAN_OPTIONS") }
    return environment.merging(own) { given, _ in given }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `timeout` (times
/// ``testTimeoutScale``). Returns whether it held.
public func eventually(timeout: Duration = .seconds(30), _ condition: () throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout * testTimeoutScale
    while ContinuousClock.now < deadline {
        if (try? condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return (try? condition()) == true
}

/// Runs a program to completion and returns its exit status and combined output.
///
/// posix_spawn and waitpid rather than Foundation's Process, whose waitUntilExit() was seen to
/// hang here once the program had left a background child behind; output goes through a file,
/// so a child that inherits it cannot keep the read open either.
@discardableResult
public func runProgram(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (
    status: Int32, output: String
) {
    let dir = try TemporaryDirectory("run")
    let outputPath = dir.file("output")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let environment = withSanitizerOptions(environment ?? ProcessInfo.processInfo.environment)
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let code = posix_spawn(&pid, executable, &actions, nil, argv, envp)
    guard code == 0 else { throw TestKitError("cannot run \(executable): \(String(cString: strerror(code)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw TestKitError("waitpid: \(String(cString: strerror(errno)))") }
    }
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
    let exited = status & 0x7F == 0
    return (exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), output)
}

/// ``runProgram(_:_:environment:)`` waiting on a thread of its own: an async test that waits for a
/// program (a `wfctl run --wait`, a daemon's end) must not hold one of the concurrency pool's
/// threads (two on a two-core machine) while the other tests need them.
@discardableResult
public func runProgram(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws
    -> (status: Int32, output: String)
{
    let result: Result<(status: Int32, output: String), any Error> = await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: Result { try runProgram(executable, arguments, environment: environment) })
        }
        thread.start()
    }
    return try result.get()
}

/// True while `pid` is a live process: it exists and is not a zombie (an orphan's zombie can
/// linger where PID 1 is slow to reap, as in some sandboxes).
public func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}
