import CSpawn
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A step's process, started by ``spawn(_:)``: its pid, a pidfd that becomes readable when it
/// ends, and the read ends of its stdout and stderr pipes. ``ProcessReactor`` takes it over.
struct ChildProcess: Sendable {
    let pid: pid_t
    let pidfd: Int32
    let stdout: Int32
    /// -1 when stderr went to ``Request/stderrPath``.
    let stderr: Int32
    /// The write end of its stdin, with ``Request/stdinPipe``; else -1 (stdin is /dev/null).
    var stdin: Int32 = -1

    /// How a process ended.
    enum End: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// Reaped by someone else: wfd reaps its children itself, so this means a bug.
        case lost
    }

    /// What to start.
    struct Request: Sendable {
        var program: String
        var arguments: [String]
        /// The whole environment of the child.
        var environment: [String: String]
        var workingDirectory: String?
        var account: UserAccount?
        /// Give the child a pipe as stdin (an MCP server's requests), not /dev/null.
        var stdinPipe = false
        /// Append the child's stderr to this file rather than a pipe.
        var stderrPath: String?
    }

    /// Why a process could not be started, said for a person.
    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts `request` in a session of its own, stdin on /dev/null and stdout/stderr on new pipes.
    ///
    /// Blocks the calling thread until the child has exec'd (about as long as `posix_spawn`).
    static func spawn(_ request: Request) -> Result<ChildProcess, SpawnError> {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        var input: [Int32] = [-1, -1]
        var opened: [Int32] = []
        func fail(_ what: String) -> Result<ChildProcess, SpawnError> {
            let message = "\(what): \(errnoText())"
            opened.forEach { close($0) }
            return .failure(SpawnError(description: message))
        }
        guard wfd_pipe_cloexec(&out) == 0 else { return fail("pipe") }
        opened += out
        if let path = request.stderrPath {
            err[1] = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard err[1] >= 0 else { return fail(path) }
            opened.append(err[1])
        } else {
            guard wfd_pipe_cloexec(&err) == 0 else { return fail("pipe") }
            opened += err
        }
        if request.stdinPipe {
            guard wfd_pipe_cloexec(&input) == 0 else { return fail("pipe") }
            opened += input
        } else {
            input[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard input[0] >= 0 else { return fail("/dev/null") }
            opened.append(input[0])
        }
        defer {
            // The child's ends: the parent keeps only its own.
            for fd in [input[0], out[1], err[1]] where fd >= 0 { close(fd) }
        }

        var pid: pid_t = 0
        var pidfd: Int32 = -1
        var stage: Int32 = 0
        let status: Int32 = withCStrings([request.program] + request.arguments) { argv in
            withCStrings(request.environment.map { "\($0.key)=\($0.value)" }) { envp in
                let groups = request.account?.groups ?? []
                return groups.withUnsafeBufferPointer { groupList in
                    withOptionalCString(request.workingDirectory) { cwd in
                        var spawn = wfd_spawn_request()
                        spawn.path = UnsafePointer(argv[0])
                        spawn.argv = UnsafePointer(argv)
                        spawn.envp = UnsafePointer(envp)
                        spawn.cwd = cwd
                        spawn.stdin_fd = input[0]
                        spawn.stdout_fd = out[1]
                        spawn.stderr_fd = err[1]
                        if let account = request.account {
                            spawn.set_ids = 1
                            spawn.uid = account.uid
                            spawn.gid = account.gid
                            spawn.ngroups = Int32(groupList.count)
                            spawn.groups = groupList.baseAddress
                        }
                        return wfd_spawn(&spawn, &pid, &pidfd, &stage)
                    }
                }
            }
        }
        guard status == 0 else {
            for fd in [out[0], err[0], input[1]] where fd >= 0 { close(fd) }
            return .failure(SpawnError(description: describe(stage: stage, errno: status, request: request)))
        }
        for fd in [out[0], err[0]] where fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var child = ChildProcess(pid: pid, pidfd: pidfd, stdout: out[0], stderr: err[0])
        child.stdin = input[1]
        return .success(child)
    }

    static func describe(stage: Int32, errno code: Int32, request: Request) -> String {
        let reason = String(cString: strerror(code))
        let user = request.account.map { " as '\($0.name)'" } ?? ""
        switch Int(stage) {
        case Int(WFD_SPAWN_EXEC):
            return code == ENOENT
                ? "'\(request.program)' does not exist" : "cannot execute '\(request.program)': \(reason)"
        case Int(WFD_SPAWN_CHDIR):
            return "cannot enter the working directory '\(request.workingDirectory ?? "")'\(user): \(reason)"
        case Int(WFD_SPAWN_SETGROUPS), Int(WFD_SPAWN_SETGID), Int(WFD_SPAWN_SETUID):
            return "cannot switch to the user\(user): \(reason)"
        case Int(WFD_SPAWN_CLONE): return "cannot create a process: \(reason)"
        default: return "cannot set up the process: \(reason)"
        }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R)
    -> R
{
    var pointers = strings.map { strdup($0) }
    pointers.append(nil)
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress else { preconditionFailure("a non-empty array has storage") }
        return body(base)
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
