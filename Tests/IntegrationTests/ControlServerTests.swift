import Foundation
import Testing
import WorkflowControl
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The control socket serves its clients side by side: one that connects and says nothing (a
/// member of the control group who typed `nc -U`, a stuck script) holds only its own connection.
@Suite struct ControlServerTests {
    /// True when `fd` has something to read (an answer, or the end of the stream) right now.
    func hasAnswer(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) > 0
    }

    @Test func aSilentClientDoesNotHoldUpStatus() async throws {
        let dir = try TemporaryDirectory("silent")
        try dir.write("jobs/idle.yaml", "schedule: '0 0 1 1 *'\nsteps: [{id: a, run: 'true'}]\n")
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let socket = "\(daemon.state)/control.sock"
        // wfd gives a silent client 5 s to send its request. Served one at a time, status would
        // be answered only after the three silent ones had timed out (15 s): never within 4 s.
        // Served side by side it is answered at once, while they still wait, unless the machine
        // is so loaded that status itself takes 4 s; then the round says nothing and is tried
        // again (three rounds at most).
        var shown = false
        for _ in 0..<3 where !shown {
            let silent = try (0..<3).map { _ in try ControlSocket.connect(to: socket) }
            defer { silent.forEach { close($0) } }
            let began = ContinuousClock.now
            let status = try await runProgram(try BuiltProducts.path("wfctl"), ["status", "--state", daemon.state])
            let took = ContinuousClock.now - began
            #expect(status.status == 0 && status.output.contains("idle"), "\(status.output)")
            if took < .seconds(4) {
                #expect(silent.contains { !hasAnswer($0) }, "a silent connection is still waiting for its request")
                shown = true
            }
        }
        #expect(shown, "status took 4 s or more in three rounds: it waited for the silent connections")
        // A silent client still gets its answer once its request comes.
        let late = try ControlSocket.connect(to: socket)
        defer { close(late) }
        try await Task.sleep(for: .milliseconds(500))
        let ping = try ControlFraming.encode(ControlRequest(command: "ping"))
        try ControlSocket.writeAll(late, ping)
        #expect(await eventually { hasAnswer(late) })
        let line = try ControlSocket.readLine(late, timeout: .seconds(5))
        #expect(try line.map { try ControlFraming.decode(ControlResponse.self, from: $0) }?.message == "pong")
    }

    /// Past the limit of connections served at once, one more is told at once that wfd is busy.
    @Test func aConnectionPastTheLimitIsToldWfdIsBusy() async throws {
        let dir = try TemporaryDirectory("busy")
        try dir.write("jobs/idle.yaml", "schedule: '0 0 1 1 *'\nsteps: [{id: a, run: 'true'}]\n")
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let socket = "\(daemon.state)/control.sock"
        // The limit is 32: connections 33 to 40 are told at once, whatever the first 32 do.
        var silent = try (0..<40).map { _ in try ControlSocket.connect(to: socket) }
        defer { silent.forEach { close($0) } }
        func answer(_ fd: Int32) throws -> ControlResponse? {
            try ControlSocket.readLine(fd, timeout: .seconds(5)).map {
                try ControlFraming.decode(ControlResponse.self, from: $0)
            }
        }
        #expect(await eventually { silent[32...].allSatisfy(hasAnswer) })
        for fd in silent[32...] {
            let refused = try #require(try answer(fd))
            #expect(refused.error == .busy && refused.message.contains("try again"), "\(refused)")
        }
        // The first 32 were admitted: answered only once their 5 s to send a request are over.
        for fd in silent[..<32] where hasAnswer(fd) { #expect(try answer(fd)?.error != .busy) }
        silent.forEach { close($0) }
        silent = []
        #expect(
            await eventually {
                (try? ControlSocket.exchange(ControlRequest(command: "ping"), at: socket, timeout: .seconds(5)))?.ok
                    == true
            }, "wfd answers again once they are gone")
    }
}
