import JobFormat
import Testing

@Suite struct JobParserTests {
    let parser = JobParser()

    func diagnostics(_ yaml: String, file: String = "/j/demo.yaml") -> [Diagnostic] {
        do {
            _ = try parser.parse(yaml, path: file)
            return []
        } catch {
            return error.diagnostics
        }
    }

    @Test func parsesAValidJob() throws {
        let job = try parser.parse(
            """
            description: Nightly report
            schedule: "0 3 * * *"
            timezone: Europe/Rome
            env: { REPORT: daily, COUNT: 3 }
            steps:
              - id: fetch
                run: ./fetch.sh
                timeout: 1m30s
              - id: send
                needs: [fetch]
                run: echo done
                env: { TO: ops }
            """, path: "/etc/wfd/jobs.d/nightly.yaml")
        #expect(job.id == JobID("nightly"))
        #expect(job.description == "Nightly report")
        #expect(job.schedules.map(\.description) == ["0 3 * * *"])
        #expect(job.timezone == "Europe/Rome")
        #expect(job.env == ["REPORT": "daily", "COUNT": "3"])
        #expect(job.steps.map(\.id.rawValue) == ["fetch", "send"])
        #expect(job.steps[0].timeout == TimeSpan(.seconds(90)))
        #expect(job.steps[1].needs == [StepID("fetch")!])
        #expect(job.steps[1].env == ["TO": "ops"])
    }

    @Test func unknownKeyNamesLineColumnAndSuggestion() {
        let found = diagnostics(
            """
            schedule: "* * * * *"
            steps:
              - id: a
                run: "true"
                need: [b]
            """)
        #expect(found.map(\.description) == ["/j/demo.yaml:5:5: unknown key 'need' in a step (did you mean 'needs'?)"])
    }

    @Test func badScheduleIsReportedAtTheCharacterAtFault() {
        let found = diagnostics(
            """
            schedule: "0 25 * * *"
            steps: [{id: a, run: "true"}]
            """)
        #expect(found.count == 1)
        #expect(found.first?.line == 1)
        #expect(found.first?.column == 14, "the '2' of 25, after the opening quote")
        #expect(found.first?.message.contains("hours field: 25 is out of range 0-23") == true)
    }

    @Test func reportsEveryProblemAtOnce() {
        let found = diagnostics(
            """
            schedule: "* * *"
            timezone: Mars/Olympus
            colour: blue
            steps:
              - id: a
                run: "true"
                timeout: soon
              - id: a
                run: "true"
              - id: c
                needs: [x]
                run: "true"
            """)
        let messages = found.map(\.message)
        #expect(found.count == 6, "\(found)")
        #expect(messages.contains { $0.hasPrefix("invalid schedule '* * *': expected 5 fields") })
        #expect(messages.contains("unknown time zone 'Mars/Olympus'"))
        #expect(messages.contains("unknown key 'colour' in a job"))
        #expect(messages.contains("invalid duration 'soon' for 'timeout'"))
        #expect(messages.contains("duplicate step id 'a'"))
        #expect(messages.contains("step 'c' needs unknown step 'x'"))
        #expect(found.first { $0.message.contains("'x'") }?.line == 11)
    }

    @Test func cyclesAreNamed() {
        let found = diagnostics(
            """
            steps:
              - {id: a, run: "true", needs: [c]}
              - {id: b, run: "true", needs: [a]}
              - {id: c, run: "true", needs: [b]}
            """)
        #expect(found.map(\.message) == ["cycle in 'needs': a -> c -> b -> a"])
    }

    @Test func yamlSyntaxErrorsCarryTheirPosition() {
        let found = diagnostics("steps:\n  - id: a\n    run: [unclosed\n")
        #expect(found.count == 1)
        #expect(found.first?.message.hasPrefix("YAML syntax error") == true)
        #expect(found.first?.line == 4)
    }

    @Test func duplicateKeysAreRefused() {
        let found = diagnostics("schedule: '* * * * *'\nschedule: '0 * * * *'\nsteps: [{id: a, run: x}]\n")
        #expect(found.first?.message.contains("duplicate key 'schedule'") == true)
    }

    @Test func structuralMistakes() {
        #expect(diagnostics("just a string").first?.message.hasPrefix("a job file must be a mapping") == true)
        #expect(diagnostics("description: x").map(\.message) == ["missing required key 'steps'"])
        #expect(diagnostics("steps: {id: a}").first?.message == "'steps' must be a list of steps, not a mapping")
        #expect(diagnostics("steps: [{run: x}]").first?.message == "a step is missing 'id'")
        #expect(diagnostics("steps: [{id: a}]").first?.message == "step 'a' has no kind")
        #expect(diagnostics("steps: [{id: 'a b', run: x}]").first?.message == "invalid step id 'a b'")
        #expect(
            diagnostics("steps: [{id: a, run: x}]\nenv: {'1X': y}").first?.message
                == "invalid name '1X' in 'env'")
        #expect(diagnostics("steps: [{id: a, run: '  '}]").first?.message == "'run' is empty")
    }

    @Test func invalidFileNamesAreReported() {
        let found = diagnostics("steps: [{id: a, run: x}]", file: "/j/Bad Name.yaml")
        #expect(found.map(\.message) == ["invalid job file name 'Bad Name.yaml'"])
        #expect(JobParser.jobID(forFileName: "backup.db.yaml") == JobID("backup.db"))
        #expect(JobParser.isJobFileName("x.yml") && JobParser.isJobFileName("x.json"))
        #expect(!JobParser.isJobFileName(".x.yaml.swp") && !JobParser.isJobFileName("x.yaml~"))
    }

    @Test func jobIDsFollowTheRule() {
        #expect(JobID("a") != nil && JobID("0-backup_v1.2") != nil)
        #expect(JobID("") == nil && JobID("-a") == nil && JobID("A") == nil && JobID("../x") == nil)
        #expect(JobID(String(repeating: "a", count: 65)) == nil)
        #expect(RunID("..") == nil && RunID("a/b") == nil && RunID("x\u{0}") == nil)
    }

    @Test func variableNamesAreUpperCasedWithEverythingElseAsUnderscores() {
        #expect(StepEnvironmentNames.variablePart("fetch-list.v2_x") == "FETCH_LIST_V2_X")
        #expect(StepEnvironmentNames.variablePart("straße") == "STRASSE", "non-ASCII: Unicode upper-casing")
        #expect(StepEnvironmentNames.variablePart("é1") == "_1")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let name = String(
                decoding: (0..<Int.random(in: 1...12, using: &generator)).map { _ in
                    UInt8.random(in: 0x20...0x7E, using: &generator)
                }, as: UTF8.self)
            let unicode = String(name.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
            #expect(StepEnvironmentNames.variablePart(name) == unicode, "\(name)")
        }
    }
}
