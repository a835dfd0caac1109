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
/// ``testTimeoutScale``). Returns whether it held; when it did not, says on stderr where the test
/// waited and for how long, so a failure names what it was waiting for.
public func eventually(
    timeout: Duration = .seconds(30), waitingFor what: String = "", fileID: String = #fileID,
    line: Int = #line, _ condition: () async throws -> Bool
) async -> Bool {
    let limit = timeout * testTimeoutScale
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    // Once more: a test that was not scheduled for a while may wake past the deadline with the
    // condition long true.
    if (try? await condition()) == true { return true }
    let about = what
    FileHandle.standardError.write(
        Data("eventually: gave up at \(fileID):\(line) after \(limit)\(about.isEmpty ? "" : ": \(about)")\n".utf8))
    return false
}

/// Runs a program to completion and returns its exit status and combined output.
///
/// The program is started by ``TestProcesses`` and waited for on a thread of its own: an async
/// test that waits for a program (a `wfctl run --wait`, a daemon's end) must not hold one of the
/// concurrency pool's threads while the other tests need them. Output goes through a file, so a
/// child that inherits it cannot keep a read open.
@discardableResult
public func runProgram(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws
    -> (status: Int32, output: String)
{
    let dir = try TemporaryDirectory("run")
    let outputPath = dir.file("output")
    let pid = try TestProcesses.spawn(
        executable, arguments, environment: environment ?? ProcessInfo.processInfo.environment,
        streams: .init(output: outputPath))
    let status = await TestProcesses.exitStatus(of: pid)
    return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
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
