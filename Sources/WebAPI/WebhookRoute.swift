import Foundation
import JobFormat
import WorkflowControl

#if canImport(Glibc)
    import Glibc
#endif

/// `POST /hooks/<job>`: a webhook's delivery. It carries no API token: it proves its sender by
/// its signature or bearer token, which wfd checks against the job's shared secret. wfd-web
/// passes the request on as it came (every header, the body) and answers with the status wfd
/// decided: 202 started or queued, 200 a redelivery, 204 filtered out, 4xx refused.
struct WebhookRoute: Sendable {
    let link: any DaemonLink

    func respond(job name: String, _ request: APIRequest) -> APIResponse {
        do throws(Problem) {
            let job = try WebAPI.jobID(name)
            guard request.body.count <= WebhookTrigger.largestMaxBytes else {
                throw Problem(
                    .tooLarge, detail: "a webhook's payload is at most \(WebhookTrigger.largestMaxBytes) bytes")
            }
            let command = ControlCommand.deliver(job, headers: request.headers, body: request.body)
            let response: ControlResponse
            // wfd-web sends as itself: the delivery's sender has no identity on this host.
            switch link.send(command, as: Caller(uid: getuid(), gid: getgid()), timeout: .seconds(45)) {
            case .failure(let problem): throw problem
            case .success(let answer): response = answer
            }
            let status = response.status ?? (response.ok ? 202 : 500)
            if status == 204 {
                return APIResponse(
                    status: 204, contentType: "text/plain", body: Data(), headers: ["X-Wfd-Reason": response.message])
            }
            guard status < 300 else {
                let kind = status == 500 ? .failed : Problem.Kind.allCases.first { $0.status == status } ?? .failed
                throw Problem(kind, detail: response.message)
            }
            return try WebAPI.json(
                CommandRoutes.CommandResult(message: response.message, run: response.run), status: status)
        } catch {
            var problem = error
            problem.instance = request.path
            return problem.response
        }
    }
}
