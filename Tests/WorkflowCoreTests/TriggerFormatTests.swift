import JobFormat
import Testing

/// `on:` in a job file: what it reads, and every mistake named at its line and column.
@Suite struct TriggerFormatTests {
    let parser = JobParser()

    func problems(_ yaml: String) -> [String] {
        do {
            _ = try parser.parse(yaml, path: "/j/hook.yaml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func readsEachTriggerWithItsDefaults() throws {
        let job = try parser.parse(
            """
            on:
              webhook:
                secret: github_webhook
                headers: [X-GitHub-Event, x-github-hook-id]
                filter: ${{ trigger.payload.action == "published" && trigger.headers["x-github-event"] == "release" }}
              path: [/srv/inbox/*.csv, /etc/app/config.yaml]
              debounce: 250ms
              job: [build, test]
              states: [succeeded, failed]
            steps:
              - id: a
                http: { url: "https://example.com/${{ trigger.payload.release.tag_name }}/${{ trigger.headers.x-github-event }}" }
            """, path: "/j/hook.yaml")
        let on = try #require(job.triggers)
        let hook = try #require(on.webhook)
        #expect(hook.verify == .github && hook.mode == .enforce && hook.secret == "github_webhook")
        #expect(hook.headers == ["x-github-event", "x-github-hook-id"])
        #expect(hook.deliveryHeaderName == "x-github-delivery" && hook.signatureHeaderName == "x-hub-signature-256")
        #expect(hook.maxBytes == 256 * 1024)
        #expect(on.paths == ["/srv/inbox/*.csv", "/etc/app/config.yaml"])
        #expect(on.quietTime == TimeSpan(milliseconds: 250))
        #expect(on.jobs.map(\.rawValue) == ["build", "test"])
        #expect(on.states == ["succeeded", "failed"])
        #expect(job.isTriggered)
        #expect(
            on.descriptions == [
                "webhook (github)", "path /srv/inbox/*.csv", "path /etc/app/config.yaml",
                "job build (succeeded, failed)", "job test (succeeded, failed)",
            ])

        let chained = try parser.parse("on: { job: build }\nsteps: [{id: a, run: 'true'}]\n", path: "/j/after.yaml")
        #expect(chained.triggers?.states == ["succeeded"], "a job trigger counts successes by default")
        let bearer = try parser.parse(
            "on: { webhook: { verify: hmac, secret: s, signature_header: X-Sig, delivery_header: X-Id, mode: observe, max_bytes: 1024 } }\nsteps: [{id: a, run: 'true'}]\n",
            path: "/j/h.yaml")
        #expect(bearer.triggers?.webhook?.signatureHeaderName == "x-sig")
        #expect(bearer.triggers?.webhook?.deliveryHeaderName == "x-id")
        #expect(bearer.triggers?.webhook?.mode == .observe && bearer.triggers?.webhook?.maxBytes == 1024)
    }

    @Test(arguments: [
        ("on: { webhook: { verify: github } }", "1:16: 'webhook' has no 'secret' (name the systemd credential"),
        ("on: { webhook: { secret: 'a/b' } }", "1:26: invalid secret name 'a/b'"),
        ("on: { webhook: { secret: s, verify: gitlab } }", "1:37: 'verify' must be one of github, hmac, bearer"),
        (
            "on: { webhook: { secret: s, headers: [Authorization] } }",
            "1:39: header 'Authorization' carries credentials"
        ),
        ("on: { webhook: { secret: s, headers: ['X Bad'] } }", "1:39: 'X Bad' is not a header name"),
        ("on: { webhook: { secret: s, signature_header: X-Sig } }", "1:29: 'signature_header' is for verify: hmac"),
        (
            "on: { webhook: { secret: s, max_bytes: 2000000 } }",
            "1:40: 'max_bytes' must be from 1 to 1048576, not 2000000"
        ),
        ("on: { webhook: { secret: s, filter: 'action == 1' } }", "1:37: 'filter' is one ${{ … }} expression"),
        (
            "on: { webhook: { secret: s, filter: '${{ payload.action }}' } }",
            "1:42: in 'filter': unknown variable 'payload' (variables: steps, params, run, job, item, trigger)"
        ),
        (
            "on: { webhook: { secret: s, filter: '${{ trigger.body }}' } }",
            "1:50: in 'filter': 'trigger' has the fields kind, source, delivery, headers and payload, not 'body'"
        ),
        ("on: { webhook: { secret: s, filter: '${{ steps.a.state == \"x\" }}' } }", "in 'filter': unknown step 'a'"),
        ("on: { path: srv/inbox }", "1:13: invalid path 'srv/inbox': it is not absolute"),
        ("on: { path: '/srv/*/in.csv' }", "1:13: invalid path '/srv/*/in.csv': only its last part may have a glob"),
        ("on: { path: /srv/../etc/passwd }", "it has '.' or '..' in it"),
        ("on: { debounce: 1s }", "1:7: 'debounce' is for 'path'"),
        ("on: { job: hook }", "1:12: job 'hook' cannot be started by its own runs"),
        ("on: { job: 'no such' }", "1:12: 'no such' is not a job id"),
        (
            "on: { job: b, states: [succeded] }",
            "1:24: 'succeded' is not a state a run ends in (did you mean 'succeeded'?)"
        ),
        ("on: { states: [failed] }", "1:7: 'states' is for 'job'"),
        ("on: {}", "1:5: 'on' is empty"),
        ("on: { cron: x }", "1:7: unknown key 'cron' in 'on'"),
        (
            "on: { job: b }\nparams: { tag: { required: true } }",
            "parameter 'tag' is required, and a run started by 'on:'"
        ),
    ])
    func eachMistakeIsNamedWhereItIs(_ on: String, _ expected: String) {
        let found = problems(on + "\nsteps: [{id: a, run: 'true'}]\n")
        #expect(found.contains { $0.contains(expected) }, "\(found)")
    }

    @Test func triggerIsOnlyKnownInAJobWithOn() {
        let template = problems(
            "steps:\n  - id: a\n    http: { url: 'https://x/${{ trigger.payload.tag }}' }\n")
        #expect(template.contains { $0.contains("'trigger' is only defined in a job with 'on:'") }, "\(template)")
        let condition = problems(
            "steps:\n  - id: a\n    when: ${{ trigger.kind == 'webhook' }}\n    run: 'true'\n")
        #expect(condition.contains { $0.contains("'trigger' is only defined in a job with 'on:'") }, "\(condition)")
        let fine = problems(
            "on: { job: b }\nsteps:\n  - id: a\n    when: ${{ trigger.payload.state == 'failed' }}\n    run: 'true'\n")
        #expect(fine.isEmpty, "\(fine)")
    }
}
