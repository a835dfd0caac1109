import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// A step's templates filled from the run's values (`${{ … }}`), field by field, for the request
/// each step kind makes of them (``HTTPCall/rendered(_:timeout:with:secrets:)``,
/// ``ModelRequest/rendered(_:timeout:with:secrets:)``).
struct StepTemplates {
    let values: TemplateValues
    /// The `for_each` item the step runs for.
    let item: JSONValue?

    /// `text` rendered, or which field could not be and why.
    func render(_ text: String, _ field: String) throws(LaunchProblem) -> String {
        switch Template.render(text, values, item: item) {
        case .success(let value): return value
        case .failure(let problem): throw .template(field: field, problem)
        }
    }
}

/// Why an attempt ends before it begins: a template without a value (which field), or what it
/// needs is not there (a secret).
enum LaunchProblem: Error {
    case template(field: String, TemplateProblem)
    case unavailable(String)

    /// The attempt's result: failed, not retried (trying again cannot mend either).
    var result: AttemptResult {
        switch self {
        case .template(let field, let problem):
            .failure(.template, "in '\(field)': \(problem.message)", retriable: false)
        case .unavailable(let why): .failure(.start, why, retriable: false)
        }
    }
}

/// The job's secrets as a step may use them: those read, and why the others could not be.
struct StepSecrets {
    let values: [String: String]
    let missing: [String: String]
}

extension HTTPCall {
    /// The request of an `http:` step: URL, query, headers (which alone may name secrets), body.
    static func rendered(
        _ spec: HTTPRequestSpec, timeout: Duration?, with templates: StepTemplates, secrets: StepSecrets
    ) throws(LaunchProblem) -> HTTPCall {
        var url = try templates.render(spec.url, "http.url")
        if !spec.query.isEmpty {
            var pairs: [String] = []
            for (name, text) in spec.query.sorted(by: { $0.key < $1.key }) {
                let value = try templates.render(text, "http.query.\(name)")
                pairs.append("\(percentEncoded(name))=\(percentEncoded(value))")
            }
            url += (url.contains("?") ? "&" : "?") + pairs.joined(separator: "&")
        }
        var withSecrets = templates.values
        withSecrets.secrets = secrets.values
        let headerTemplates = StepTemplates(values: withSecrets, item: templates.item)
        var headers: [String: String] = [:]
        for (name, text) in spec.headers {
            do {
                headers[name] = try headerTemplates.render(text, "http.headers.\(name)")
            } catch {
                let missing = (try? Template(parsing: text))?.references.lazy.compactMap { reference -> String? in
                    guard case .secret(let name) = reference else { return nil }
                    return secrets.missing[name]
                }.first
                throw missing.map { .unavailable($0) } ?? error
            }
        }
        var body: Data?
        if let json = spec.json {
            switch json.rendered(templates.values, item: templates.item) {
            case .success(let value):
                body = Data(value.jsonText.utf8)
                if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) {
                    headers["Content-Type"] = "application/json"
                }
            case .failure(let problem): throw .template(field: "http.json", problem)
            }
        } else if let text = spec.body {
            body = Data(try templates.render(text, "http.body").utf8)
        }
        let limit = [spec.timeout?.duration, timeout].compactMap { $0 }.min() ?? .seconds(30)
        var call = HTTPCall(method: spec.method, url: url, headers: headers, body: body, timeout: limit)
        call.expect = spec.expect
        call.idempotencyKey = try spec.idempotencyKey.map { text throws(LaunchProblem) in
            try templates.render(text, "http.idempotency_key")
        }
        return call
    }

    /// `text` percent-encoded for a query string.
    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

extension ModelRequest {
    /// The call of an `llm:` step: prompt, system prompt and base URL rendered; the API key from
    /// the job's secrets (never a template: a prompt cannot leak it).
    static func rendered(
        _ spec: LLMCallSpec, timeout: Duration?, with templates: StepTemplates, secrets: StepSecrets,
        kind: String = "llm", promptField: String = "prompt"
    ) throws(LaunchProblem) -> ModelRequest {
        var request = ModelRequest(
            provider: spec.provider, model: spec.model,
            prompt: try templates.render(spec.prompt, "\(kind).\(promptField)"), timeout: timeout ?? .seconds(300))
        request.system = try spec.system.map { text throws(LaunchProblem) in
            try templates.render(text, "\(kind).system")
        }
        if let base = spec.baseURL { request.baseURL = try templates.render(base, "\(kind).base_url") }
        request.temperature = spec.temperature
        request.maxTokens = spec.maxTokens ?? ModelProtocol.defaultMaxTokens
        request.schema = spec.schema
        request.repairAttempts = spec.repairAttempts
        if let name = spec.apiKeySecret {
            guard let key = secrets.values[name] else {
                throw .unavailable(secrets.missing[name] ?? "secret '\(name)' is not available")
            }
            request.apiKey = key
        }
        return request
    }
}
