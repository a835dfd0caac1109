// A helper for wfd's tests, never installed: does one thing the tests need from a separate
// process that they can kill at any moment.
//
//   wfd-testhelper write-loop PATH   rewrite the record at PATH durably, forever, with growing seq
//   wfd-testhelper hold-lock PATH    take the flock on PATH, print "locked", sleep until killed
import Foundation
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

struct LoopRecord: Codable {
    var version = 1
    var seq: Int
    /// Large enough that a write takes several system calls; every character is the seq's last digit.
    var payload: String
}

/// Writes a line to fd 1 unbuffered, so the test sees it at once.
func say(_ line: String) {
    _ = (line + "\n").withCString { write(1, $0, strlen($0)) }
}

/// Ends the helper once the test that started it is gone: a test process killed before it could
/// stop its helpers once left a write loop spinning for hours, skewing every benchmark after it.
let parent = getppid()
func exitIfOrphaned() {
    if getppid() != parent { exit(0) }
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: wfd-testhelper write-loop|hold-lock PATH\n".utf8))
    exit(64)
}
switch arguments[1] {
case "write-loop":
    var seq = 0
    while true {
        exitIfOrphaned()
        seq += 1
        let digit = Character(String(seq % 10))
        do {
            try RecordFile.write(
                LoopRecord(seq: seq, payload: String(repeating: digit, count: 256 * 1024)), to: arguments[2])
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            exit(1)
        }
        if seq == 1 { say("first") }
    }
case "hold-lock":
    guard let lock = try FileLock.tryLock(arguments[2]) else {
        say("busy")
        exit(1)
    }
    say("locked")
    while true {
        exitIfOrphaned()
        usleep(100_000)
    }
    withExtendedLifetime(lock) {}
default:
    exit(64)
}
