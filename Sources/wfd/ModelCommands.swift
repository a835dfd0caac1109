import Foundation
import JobFormat
import Logging
import RunModel
import WorkflowControl
import WorkflowEngine
import WorkflowReports

/// The control commands about a job's model steps that start no run: what a run would do
/// (`preview`), a step tried on earlier inputs (`eval`), a job file drafted by a model (`draft`).
/// Each answers on the connection's own thread, with its report's JSON as the answer's body.
struct ModelCommands: Sendable {
    let scheduler: Scheduler
    let logger: Logger

    /// `preview`: what a run would do, from the job as loaded and wfd's prices.
    func preview(_ id: JobID, params: [String: String], body: inout Data?) -> ControlResponse {
        guard let loaded = waitForReply(within: 30, { scheduler.definition(of: id, done: $0) }) else {
            return ControlServer.noAnswer
        }
        switch loaded {
        case .failure(let refusal): return ControlResponse(ControlRefusal(.noSuchJob, refusal.message))
        case .success(let job):
            switch RunPreview.make(job, params: params, prices: scheduler.configuration.prices) {
            case .failure(let problem): return ControlResponse(ControlRefusal(.badRequest, problem.message))
            case .success(let preview):
                guard let data = try? RecordJSON.encode(preview) else {
                    return ControlResponse(ControlRefusal(.failed, "cannot encode the preview"))
                }
                body = data
                return ControlResponse(ok: true, message: "")
            }
        }
    }

    /// `eval`: the step as defined now, called on earlier inputs; one model call (and its repairs)
    /// per case, so this waits up to 30 minutes.
    func evaluate(_ id: JobID, _ stepID: StepID, runs: Int, cases: String?, body: inout Data?)
        -> ControlResponse
    {
        guard let loaded = waitForReply(within: 30, { scheduler.definition(of: id, done: $0) }) else {
            return ControlServer.noAnswer
        }
        let job: Job
        switch loaded {
        case .failure(let refusal): return ControlResponse(ControlRefusal(.noSuchJob, refusal.message))
        case .success(let found): job = found
        }
        let evaluator = StepEval(coordinator: scheduler.coordinator())
        let (step, spec): (StepDefinition, LLMCallSpec)
        switch StepEval.llmStep(job, stepID) {
        case .failure(let problem): return ControlResponse(ControlRefusal(.badRequest, problem.message))
        case .success(let found): (step, spec) = found
        }
        var inputs: [StepEval.Case]
        if let cases {
            switch StepEval.fileCases(Data(cases.utf8), job: job) {
            case .failure(let problem): return ControlResponse(ControlRefusal(.badRequest, problem.message))
            case .success(let found): inputs = found
            }
        } else {
            inputs = evaluator.recordedCases(job, step, count: runs)
            guard !inputs.isEmpty else {
                return ControlResponse(
                    ControlRefusal(
                        .refused, "no run of \(id) has a succeeded '\(stepID)' to take inputs from: give --cases FILE"))
            }
        }
        var log = logger
        log[metadataKey: "JOB"] = .string(id.rawValue)
        log.info("evaluating step '\(stepID)' on \(inputs.count) cases")
        let (logger, inputsToRun) = (log, inputs)
        let report = waitForReply(within: 1800) { (reply: @escaping @Sendable (StepEval.Report) -> Void) in
            Task { reply(await evaluator.run(job, step, spec, cases: inputsToRun, logger: logger)) }
        }
        guard let report, let data = try? RecordJSON.encode(report) else {
            return ControlResponse(ControlRefusal(.failed, "the evaluation did not finish within 30 minutes"))
        }
        body = data
        return ControlResponse(ok: true, message: "")
    }

    /// `draft`: a model writes a job file, corrected while the parser finds problems; written by
    /// wfctl (to jobs.d/pending/), never here.
    func draft(_ job: JobID, description: String, model: ModelChoice, repairs: Int, body: inout Data?)
        -> ControlResponse
    {
        var request = JobDraft.Request(
            job: job, description: description, model: model.model,
            path: "\(scheduler.configuration.jobsDirectory)/pending/\(job).yaml")
        request.provider = LLMProvider(rawValue: model.provider) ?? .openai
        request.baseURL = model.baseURL
        request.apiKeySecret = model.apiKeySecret
        request.repairs = repairs
        let drafter = JobDraft(coordinator: scheduler.coordinator())
        let (logger, order) = (logger, request)
        let outcome = waitForReply(within: 900) {
            (reply: @escaping @Sendable (Result<JobDraft.Outcome, JobDraft.Problem>) -> Void) in
            Task { reply(await drafter.write(order, logger: logger)) }
        }
        switch outcome {
        case nil: return ControlResponse(ControlRefusal(.failed, "the draft did not finish within 15 minutes"))
        case .failure(let problem)?: return ControlResponse(ControlRefusal(.failed, problem.message))
        case .success(let made)?:
            guard let data = try? RecordJSON.encode(made) else {
                return ControlResponse(ControlRefusal(.failed, "cannot encode the draft"))
            }
            body = data
            return ControlResponse(ok: true, message: "")
        }
    }
}
