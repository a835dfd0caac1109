import Foundation

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

/// Waits until `condition` holds, checking every 20 ms, for at most `timeout`. Returns whether it held.
public func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return (try? condition()) == true
}

/// Runs a program to completion and returns its exit status and combined output.
@discardableResult
public func runProgram(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (
    status: Int32, output: String
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
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
