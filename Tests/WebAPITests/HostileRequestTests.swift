import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing
import WebAPI
import WorkflowControl
import WorkflowStore
import WorkflowTesting

/// What a hostile caller can send the API: names made to escape the state directory or to be read
/// as something else, in every path parameter; and a few thousand random requests. Each is
/// refused with a problem (or answered, when it names what exists), nothing else is touched, and
/// nothing crashes.
@Suite struct HostileRequestTests {
    /// Path traversal, separators, dot files, NUL, control characters, non-ASCII, very long names,
    /// and their percent-encoded forms (which the router decodes).
    static let hostile = [
        "..", "../outside", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e", "a%2Fb", "%2Fetc%2Fpasswd", ".hidden",
        String(repeating: "a", count: 300), "a%0Ab", "name%20with%20spaces", "%C3%84rger", "a%00b", "%", "%zz",
        "a%0D%0AX-Injected:%201",
    ]

    static let allowed: Set<Int> = [200, 400, 401, 403, 404, 405, 409, 413, 503]

    func check(_ response: APIResponse, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Self.allowed.contains(response.status), "\(what): \(response.status)", sourceLocation: sourceLocation)
        if response.status >= 400 {
            #expect(response.contentType == "application/problem+json", "\(what)", sourceLocation: sourceLocation)
            guard case .object(let fields)? = JSONValue.parse(response.body) else {
                Issue.record("\(what): not a problem: \(String(decoding: response.body, as: UTF8.self))")
                return
            }
            #expect(fields["status"] == .number(Double(response.status)), sourceLocation: sourceLocation)
        }
        for (name, value) in response.headers {
            #expect(
                !value.contains("\n") && !value.contains("\r"), "\(what): header \(name)",
                sourceLocation: sourceLocation)
        }
    }

    @Test func hostileNamesInEveryPathParameterAreRefusedAndTouchNothing() async throws {
        let dir = try TemporaryDirectory("hostile-web")
        let (state, run) = try WebAPITests().seed(dir)
        let api = WebAPI(state: state, heartbeat: .milliseconds(50))
        let before = try snapshot(dir.path)
        for name in Self.hostile {
            for (method, target) in [
                ("GET", "/api/v1/jobs/\(name)"), ("GET", "/api/v1/jobs/\(name)/definition"),
                ("GET", "/api/v1/jobs/nightly/definition?next=\(name)"), ("GET", "/api/v1/runs/\(name)"),
                ("GET", "/api/v1/runs/\(name)/why"),
                ("GET", "/api/v1/runs/\(run)/steps/\(name)/attempts/1/log"),
                ("GET", "/api/v1/runs/\(run)/steps/load/attempts/\(name)/log"),
                ("GET", "/api/v1/runs/\(name)/steps/load/attempts/1/log/events"),
                ("GET", "/api/v1/stats?job=\(name)"), ("GET", "/api/v1/stats?since=\(name)"),
                ("POST", "/api/v1/jobs/\(name)/runs"), ("POST", "/api/v1/runs/\(name)/cancel"),
                ("POST", "/api/v1/runs/\(name)/retry"), ("POST", "/api/v1/runs/\(run)/steps/\(name)/approve"),
            ] {
                let response = api.respond(APIRequest(method: method, target: target, caller: .root))
                check(response, "\(method) \(target.prefix(120))")
                #expect(response.status != 200, "\(method) \(target.prefix(120)) answered")
            }
        }
        #expect(try snapshot(dir.path) == before, "nothing in the state directory changed")
    }

    @Test func randomRequestsGetAnAnswerOrAProblemNeverACrash() throws {
        let dir = try TemporaryDirectory("random-web")
        let (state, run) = try WebAPITests().seed(dir)
        let api = WebAPI(state: state, tokens: TokenSource(path: dir.file("no-tokens.json")))
        var generator = SeededGenerator(seed: 0x5EED)
        let pieces = [
            "api", "v1", "jobs", "runs", "steps", "attempts", "log", "events", "why", "stats", "nightly", run.rawValue,
            "load", "fetch", "1", "0", "-1", "..", "", "%2F", "%00", "approve", "reject", "retry", "cancel", "reload",
            "openapi.yaml", "?", "&", "=", "since=1h", "job=nightly", "offset=3",
        ]
        let bodies = [
            "", "{}", "[]", "null", "{\"params\": {\"a\": \"b\"}}", "{\"skip\": [1]}", "{\"item\": -1}", "\u{0}", "{",
        ]
        for round in 0..<3_000 {
            let method = ["GET", "POST", "HEAD", "PUT", "DELETE", "get", ""].randomElement(using: &generator) ?? "GET"
            let count = Int.random(in: 0...8, using: &generator)
            let target =
                "/" + (0..<count).map { _ in pieces.randomElement(using: &generator) ?? "" }.joined(separator: "/")
            let body = bodies.randomElement(using: &generator) ?? ""
            let caller: Caller? = round % 3 == 0 ? nil : .root
            var request = APIRequest(method: method, target: target, body: Data(body.utf8), caller: caller)
            if round % 5 == 0 { request.headers["authorization"] = "Bearer wfd_\(round)" }
            if round % 7 == 0 { request.headers["last-event-id"] = ["", "x", "-1", "99999999999999999999"][round % 4] }
            let response = api.respond(request)
            check(response, "\(method) \(target) \(body)")
            // A stream is not read here: it ends when dropped.
        }
    }

    /// Every file under `path` with the SHA-256 of its contents, to see that nothing changed.
    func snapshot(_ path: String) throws -> [String: String] {
        var files: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let file = enumerator?.nextObject() as? String {
            files[file] = SHA256.hex(FileManager.default.contents(atPath: path + "/" + file) ?? Data())
        }
        return files
    }
}

/// A repeatable source of random numbers (splitmix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
