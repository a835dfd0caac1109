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
    let stderr: Int32

    /// How a process ended.
    enum End: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// Reaped by someone else: wfd reaps its children itself, so this means a bug.
        case lost
    }

    /// What to start.
    struct Request {
        var program: String
        var arguments: [String]
        /// The whole environment of the child.
        var environment: [String: String]
        var workingDirectory: String?
        var account: UserAccount?
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
        guard wfd_pipe_cloexec(&out) == 0 else { return .failure(SpawnError(description: "pipe: \(errnoText())")) }
        guard wfd_pipe_cloexec(&err) == 0 else {
            let message = errnoText()
            out.forEach { close($0) }
            return .failure(SpawnError(description: "pipe: \(message)"))
        }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            if null >= 0 { close(null) }
            close(out[1])  // the child's ends: the parent keeps only the read ends
            close(err[1])
        }
        guard null >= 0 else {
            let message = errnoText()
            close(out[0])
            close(err[0])
            return .failure(SpawnError(description: "/dev/null: \(message)"))
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
                        spawn.stdin_fd = null
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
            close(out[0])
            close(err[0])
            return .failure(SpawnError(description: describe(stage: stage, errno: status, request: request)))
        }
        for fd in [out[0], err[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return .success(ChildProcess(pid: pid, pidfd: pidfd, stdout: out[0], stderr: err[0]))
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
