import Foundation
import JobFormat
import Testing
import WorkflowControl

/// The typed commands travel as the JSON requests wfctl has always sent.
@Suite struct ControlCommandTests {
    let run = RunID("20261129T090000.000Z-3f2a1c")!

    @Test func everyCommandSurvivesTheWireUnchanged() throws {
        var approval = ControlCommand.Decision(approve: true, run: run, step: StepID("confirm")!)
        (approval.item, approval.input, approval.comment) = (2, "{}", "ok")
        let commands: [ControlCommand] = [
            .ping, .reload, .status(.json), .status(.active), .status(.metrics), .status(.table(colour: true)),
            .status(.table(colour: false)),
            .run(JobID("nightly")!, params: [:]), .run(JobID("nightly")!, params: ["day": "mon"]), .cancel(run),
            .retry(JobID("nightly")!, run, from: nil, skip: [], outputs: [:]),
            .retry(
                JobID("nightly")!, run, from: StepID("b")!, skip: [StepID("a")!], outputs: [StepID("a")!: "{}"]),
            .decide(approval),
            .decide(.init(approve: false, run: run, step: StepID("confirm")!)),
        ]
        for command in commands {
            let line = try ControlFraming.encode(ControlRequest(command))
            let request = try ControlFraming.decode(ControlRequest.self, from: line)
            #expect(try request.decoded().get() == command, "\(String(decoding: line, as: UTF8.self))")
        }
    }

    @Test func theWireFormatIsWhatOlderWfctlSends() throws {
        let old = #"{"command":"run","job":"nightly","params":{"day":"mon"}}"#
        let request = try ControlFraming.decode(ControlRequest.self, from: Data(old.utf8))
        #expect(try request.decoded().get() == .run(JobID("nightly")!, params: ["day": "mon"]))
        let sent = String(decoding: try ControlFraming.encode(ControlRequest(.cancel(run))), as: UTF8.self)
        #expect(sent == #"{"command":"cancel","run":"20261129T090000.000Z-3f2a1c"}"# + "\n")
    }

    @Test func aRequestThatIsNotACommandIsRefusedSayingWhy() {
        var retry = ControlRequest(command: "retry", job: "nightly", run: run.rawValue)
        retry.skip = ["../etc"]
        #expect(retry.decoded() == .failure(ControlRefusal(.badRequest, "'../etc' is not a step id")))
        #expect(
            ControlRequest(command: "approve", run: run.rawValue).decoded()
                == .failure(ControlRefusal(.badRequest, "approve needs a run id and a step id")))
        #expect(
            ControlRequest(command: "fly").decoded()
                == .failure(ControlRefusal(.unknownCommand, "unknown command 'fly'")))
        var status = ControlRequest(command: "status")
        status.format = "xml"
        #expect(
            status.decoded()
                == .failure(ControlRefusal(.badRequest, "status format must be text, json, active or metrics")))
    }

    @Test func anErrorCodeFromANewerWfdReadsAsFailed() throws {
        let line = #"{"ok":false,"message":"m","error":"something_new"}"#
        #expect(try ControlFraming.decode(ControlResponse.self, from: Data(line.utf8)).error == .failed)
        let known = #"{"ok":false,"message":"m","error":"no_such_run"}"#
        #expect(try ControlFraming.decode(ControlResponse.self, from: Data(known.utf8)).error == .noSuchRun)
    }
}
