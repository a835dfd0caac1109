import Foundation
import Testing
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// wfd-web as installed: the shipped wfd.service, wfd-web.socket and wfd-web.service, unchanged,
/// with the binaries in /usr/local/bin, in a systemd whose root is an overlay of this machine's
/// (it has a group wfd of its own). The first connection starts wfd-web, which answers from the
/// state wfd wrote, to the group's members only, and keeps answering across a restart of wfd.
@Suite struct WebEndToEndTests {
    @Test func theSocketStartsWfdWebWhichAnswersTheGroupFromWfdsState() async throws {
        try await SystemdSandbox.with(ownRoot: true) { sandbox in
            let root = sandbox.root
            // The group wfd and the user wfd-web, from the shipped sysusers.d file.
            try FileManager.default.createDirectory(atPath: root + "/etc/sysusers.d", withIntermediateDirectories: true)
            let sysusers = try await runProgram(
                "/bin/cp", [BuiltProducts.packageRoot + "/systemd/wfd.sysusers", "\(root)/etc/sysusers.d/wfd.conf"])
            try #require(sysusers.status == 0, "\(sysusers.output)")
            #expect(try await sandbox.run(["systemd-sysusers"]).status == 0)
            #expect(try await sandbox.run(["useradd", "--no-create-home", "--groups", "wfd", "alice"]).status == 0)
            #expect(try await sandbox.run(["useradd", "--no-create-home", "bob"]).status == 0)
            try FileManager.default.createDirectory(atPath: root + "/usr/local/bin", withIntermediateDirectories: true)
            for program in ["wfd", "wfctl", "wfd-web"] {
                let copy = try await runProgram("/bin/cp", [try BuiltProducts.path(program), "\(root)/usr/local/bin/"])
                try #require(copy.status == 0, "cp \(program): \(copy.output)")
            }
            for unit in ["wfd.service", "wfd.slice", "wfd-web.socket", "wfd-web.service"] {
                let copy = try await runProgram(
                    "/bin/cp", [BuiltProducts.packageRoot + "/systemd/" + unit, "\(root)/etc/systemd/system/"])
                try #require(copy.status == 0, "cp \(unit): \(copy.output)")
            }
            try FileManager.default.createDirectory(atPath: root + "/etc/wfd/jobs.d", withIntermediateDirectories: true)
            try "steps:\n  - {id: greet, run: 'echo hello over http'}\n".write(
                toFile: root + "/etc/wfd/jobs.d/hello.yaml", atomically: true, encoding: .utf8)
            try "steps:\n  - {id: confirm, approval: {message: 'Go?'}}\n  - {id: go, needs: [confirm], run: 'true'}\n"
                .write(toFile: root + "/etc/wfd/jobs.d/gate.yaml", atomically: true, encoding: .utf8)
            for job in ["hello", "gate"] { chmod(root + "/etc/wfd/jobs.d/\(job).yaml", 0o644) }
            #expect(try await sandbox.run(["systemctl", "daemon-reload"]).status == 0)
            let started = try await sandbox.run(["systemctl", "start", "wfd.service", "wfd-web.socket"])
            if started.status != 0 { Issue.record("\(started.output)\n\(await journal(sandbox))") }
            let run = try await sandbox.run(["wfctl", "run", "hello", "--wait"])
            #expect(run.status == 0, "\(run.output)")
            let id = try #require(run.output.split(separator: " ").dropFirst(2).first.map(String.init))

            // Not started until someone connects.
            #expect(try await state(sandbox, "wfd-web.service") == "inactive")
            let socket = try await sandbox.run(["stat", "-c", "%U:%G %a", "/run/wfd/web.sock"])
            #expect(socket.output == "root:wfd 660\n", "\(socket.output)")

            let jobs = try await curl(sandbox, as: "alice", "/api/v1/jobs")
            if jobs.status != 0 { Issue.record("curl: \(jobs.output)\n\(await journal(sandbox))") }
            #expect(jobs.output.hasPrefix("HTTP/1.1 200 "), "\(jobs.output)")
            let report = jsonBody(jobs.output)
            let names = (report?["jobs"] as? [[String: Any]])?.compactMap { $0["job"] as? String } ?? []
            #expect(names.contains("hello"), "\(jobs.output)")
            let daemon = report?["daemon"] as? [String: Any]
            #expect(daemon?["running"] as? Bool == true, "wfd's status as wfctl shows it: \(jobs.output)")
            #expect(try await state(sandbox, "wfd-web.service") == "active", "started by the connection")
            let user = try await sandbox.run(["ps", "-o", "user=", "-C", "wfd-web"])
            #expect(user.output == "wfd-web\n", "runs as its own user: \(user.output)")

            // The web UI on the same socket: alice's page, without signing in; the session key
            // in wfd-web's own state directory, readable by it alone.
            let page = try await curl(sandbox, as: "alice", "/runs/\(id)")
            #expect(
                page.output.hasPrefix("HTTP/1.1 200 ") && page.output.contains("<svg class=\"dag\""), "\(page.output)")
            #expect(page.output.contains("uid ") && page.output.contains("name=\"csrf\""))
            let key = try await sandbox.run(["stat", "-c", "%U %a %s", "/var/lib/wfd-web/session.key"])
            #expect(key.output == "wfd-web 600 32\n", "\(key.output)")

            let detail = try await curl(sandbox, as: "alice", "/api/v1/runs/\(id)")
            #expect(
                detail.output.hasPrefix("HTTP/1.1 200 ")
                    && (jsonBody(detail.output)?["run"] as? [String: Any])?["state"] as? String == "succeeded",
                "\(detail.output)")
            let events = try await curl(sandbox, as: "alice", "/api/v1/runs/\(id)/steps/greet/attempts/1/log/events")
            #expect(events.output.lowercased().contains("content-type: text/event-stream"), "\(events.output)")
            #expect(events.output.contains("data: hello over http\n"), "\(events.output)")
            #expect(events.output.contains("event: end\n"), "\(events.output)")
            // Prometheus's view, from wfd's memory through wfd-web: the run just followed, counted.
            let metrics = try await curl(sandbox, as: "alice", "/metrics")
            #expect(
                metrics.output.hasPrefix("HTTP/1.1 200 ")
                    && metrics.output.lowercased().contains("content-type: text/plain; version=0.0.4"),
                "\(metrics.output)")
            #expect(
                metrics.output.contains("wfd_step_attempts_total{job=\"hello\",kind=\"run\",outcome=\"succeeded\"} 1"),
                "\(metrics.output)")
            let missing = try await curl(sandbox, as: "alice", "/api/v1/runs/20200101T000000.000Z-000001")
            #expect(missing.output.hasPrefix("HTTP/1.1 404 "), "\(missing.output)")

            // bob is not in the group: the kernel refuses his connection (curl: exit 7).
            let bob = try await curl(sandbox, as: "bob", "/api/v1/jobs")
            #expect(bob.status == 7, "\(bob.output)")

            // alice starts a run and approves its step over HTTP; wfd records her, via wfd-web.
            let posted = try await curl(sandbox, as: "alice", "/api/v1/jobs/gate/runs", post: "{}")
            #expect(posted.output.hasPrefix("HTTP/1.1 202 "), "\(posted.output)")
            let gate = try #require(jsonBody(posted.output)?["run"] as? String, "\(posted.output)")
            var approved = (status: Int32(0), output: "")
            for _ in 0..<100 {
                approved = try await curl(
                    sandbox, as: "alice", "/api/v1/runs/\(gate)/steps/confirm/approve", post: #"{"comment": "web"}"#)
                if !approved.output.hasPrefix("HTTP/1.1 409 ") { break }  // not waiting yet
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(approved.output.hasPrefix("HTTP/1.1 200 "), "\(approved.output)")
            let step = try String(
                contentsOfFile: "\(root)/var/lib/wfd/runs/gate/\(gate)/steps/confirm.json", encoding: .utf8)
            let uid = try await sandbox.run(["id", "-u", "alice"]).output.trimmingCharacters(
                in: .whitespacesAndNewlines)
            #expect(step.contains("\"uid \(uid) (alice) via wfd-web\""), "\(step)")
            // alice cannot name someone else to wfd herself: only wfd-web may.
            let forged = try await sandbox.run([
                "runuser", "-u", "alice", "--", "python3", "-c",
                """
                import socket; s = socket.socket(socket.AF_UNIX); s.connect("/run/wfd/control.sock")
                s.sendall(b'{"command": "run", "job": "hello", "on_behalf_of": {"uid": 0, "gid": 0, "groups": []}}\\n')
                print(s.recv(4096).decode())
                """,
            ])
            #expect(forged.output.contains("may not send commands on behalf of another user"), "\(forged.output)")

            // Over TCP (a drop-in adds the address), with a token made by wfctl.
            let port = Int.random(in: 20_000...60_000)
            try FileManager.default.createDirectory(
                atPath: root + "/etc/systemd/system/wfd-web.socket.d", withIntermediateDirectories: true)
            try "[Socket]\nListenStream=127.0.0.1:\(port)\n".write(
                toFile: root + "/etc/systemd/system/wfd-web.socket.d/tcp.conf", atomically: true, encoding: .utf8)
            let token = try await sandbox.run(["wfctl", "token", "add", "dashboard", "--scope", "read"])
            #expect(token.status == 0, "\(token.output)")
            let secret = token.output.split(separator: "\n").first { $0.hasPrefix("wfd_") }.map(String.init) ?? ""
            #expect(try await sandbox.run(["systemctl", "daemon-reload"]).status == 0)
            let restarted = try await sandbox.run(["systemctl", "restart", "wfd-web.socket"])
            #expect(restarted.status == 0, "\(restarted.output)")
            let url = "http://127.0.0.1:\(port)/api/v1/jobs/hello"
            let anonymous = try await sandbox.run(["curl", "--silent", "--include", "--max-time", "10", url])
            #expect(anonymous.output.hasPrefix("HTTP/1.1 401 "), "\(anonymous.output)")
            let signed = try await sandbox.run([
                "curl", "--silent", "--include", "--max-time", "10", "--header", "Authorization: Bearer \(secret)", url,
            ])
            #expect(signed.output.hasPrefix("HTTP/1.1 200 "), "\(signed.output)")

            // A restart of wfd keeps /run/wfd, so the socket and wfd-web go on.
            #expect(try await sandbox.run(["systemctl", "restart", "wfd.service"]).status == 0)
            let again = try await curl(sandbox, as: "alice", "/api/v1/jobs/hello")
            #expect(again.output.hasPrefix("HTTP/1.1 200 "), "\(again.output)")
        }
    }

    @Test func theUnitsVerifyCleanlyAndTheServiceIsHardened() async throws {
        let dir = try TemporaryDirectory("web-units")
        for unit in ["wfd-web.socket", "wfd-web.service"] {
            let text = try String(contentsOfFile: BuiltProducts.packageRoot + "/systemd/" + unit, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/wfd-web", with: try BuiltProducts.path("wfd-web"))
            try text.write(toFile: dir.file(unit), atomically: true, encoding: .utf8)
        }
        let verify = try await runProgram(
            "/usr/bin/systemd-analyze", ["verify", "--man=no", dir.file("wfd-web.socket"), dir.file("wfd-web.service")])
        #expect(verify.status == 0 && verify.output == "", "systemd-analyze verify printed: \(verify.output)")
        let security = try await runProgram(
            "/usr/bin/systemd-analyze",
            ["security", "--offline=yes", BuiltProducts.packageRoot + "/systemd/wfd-web.service"])
        let line = try #require(security.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.first)
        #expect(score <= 3.0, "\(line)")
    }

    /// `curl --include` inside the instance as `user` (a POST of `post` when given): the output
    /// starts with the status line.
    private func curl(_ sandbox: SystemdSandbox, as user: String, _ path: String, post: String? = nil) async throws
        -> (status: Int32, output: String)
    {
        try await sandbox.run(
            [
                "runuser", "-u", user, "--", "curl", "--silent", "--show-error", "--max-time", "10", "--include",
                "--unix-socket", "/run/wfd/web.sock",
            ] + (post.map { ["--data", $0, "--header", "Content-Type: application/json"] } ?? []) + [
                "http://wfd" + path
            ])
    }

    private func state(_ sandbox: SystemdSandbox, _ unit: String) async throws -> String {
        try await sandbox.run(["systemctl", "is-active", unit]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func journal(_ sandbox: SystemdSandbox) async -> String {
        (try? await sandbox.run(["journalctl", "--no-pager", "-u", "wfd", "-u", "wfd-web"]).output) ?? ""
    }
}

/// The JSON object after the head of `curl --include`'s output.
func jsonBody(_ output: String) -> [String: Any]? {
    guard let body = output.components(separatedBy: "\r\n\r\n").last else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
}
