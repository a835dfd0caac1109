import RuntimeSupport

/// A string with `${{ path }}` references: HTTP and LLM fields, approval messages, `for_each`, `when`.
///
/// Paths: `steps.<id>.output[.field…]`, `params.<name>`, `secrets.<name>`, `item[.field…]`
/// (inside `for_each`), `run.id`, `run.trigger`, `job.id`. Rendering comes with the executors;
/// parsing happens at load time so that a bad reference is a validation error, not a failed run.
public struct Template: Sendable, Equatable {
    /// One piece of a template.
    public enum Part: Sendable, Equatable {
        case literal(String)
        case reference(TemplateReference)
    }

    public var parts: [Part]

    /// The references in order.
    public var references: [TemplateReference] {
        parts.compactMap { if case .reference(let reference) = $0 { reference } else { nil } }
    }

    /// True when the whole template is one reference, so it can stand for a non-string value.
    public var isSingleReference: Bool { parts.count == 1 && references.count == 1 }

    /// Parses `text`. Throws ``TemplateError`` with the offset of the problem.
    public init(parsing text: String) throws(TemplateError) {
        parts = []
        let characters = Array(text)
        var literal = ""
        var index = 0
        while index < characters.count {
            if characters[index] == "$", index + 2 < characters.count, characters[index + 1] == "{",
                characters[index + 2] == "{"
            {
                let start = index
                var end = index + 3
                while end + 1 < characters.count, !(characters[end] == "}" && characters[end + 1] == "}") { end += 1 }
                guard end + 1 < characters.count else {
                    throw TemplateError(offset: start, message: "'${{' is not closed with '}}'")
                }
                let inner = String(characters[(index + 3)..<end]).trimmingWhitespace()
                if !literal.isEmpty {
                    parts.append(.literal(literal))
                    literal = ""
                }
                parts.append(.reference(try TemplateReference(parsing: String(inner), offset: start)))
                index = end + 2
            } else {
                literal.append(characters[index])
                index += 1
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
    }

    /// True when `text` contains `${{`.
    public static func containsTemplate(_ text: String) -> Bool {
        // By bytes first: Foundation's `contains` costs a bridged search for every string of every
        // job, and only a string with those bytes can contain those characters.
        var bytes = text
        let mayContain = bytes.withUTF8 { bytes in
            guard bytes.count >= 3 else { return false }
            for index in 0..<(bytes.count - 2)
            where bytes[index] == UInt8(ascii: "$") && bytes[index + 1] == UInt8(ascii: "{")
                && bytes[index + 2] == UInt8(ascii: "{")
            {
                return true
            }
            return false
        }
        return mayContain && text.contains("${{")
    }
}

/// What a `${{ … }}` refers to.
public enum TemplateReference: Sendable, Equatable {
    case stepOutput(StepID, path: [String])
    case param(String)
    case secret(String)
    case item(path: [String])
    case runID
    case runTrigger
    case jobID
    /// `trigger.payload…`, `trigger.headers.<name>`, `trigger.source`, …: what started the run.
    case trigger(path: [String])
    /// `args.<name>…`: an argument the model gave an agent's tool (in the tool's fields only).
    case args(path: [String])

    /// The forms a reference may take, for error messages.
    public static let forms =
        "steps.<id>.output[.field], params.<name>, secrets.<name>, item[.field], run.id, run.trigger, job.id, trigger.payload[.field] or args.<name> (in an agent tool)"

    init(parsing text: String, offset: Int) throws(TemplateError) {
        guard !text.isEmpty else { throw TemplateError(offset: offset, message: "empty '${{ }}'") }
        let segments = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        for segment in segments where segment.isEmpty || !segment.allSatisfy(Self.isPathCharacter) {
            throw TemplateError(
                offset: offset, message: "'\(text)' is not a reference path", hint: "expected \(Self.forms)")
        }
        switch (segments[0], segments.count) {
        case ("steps", 3...) where segments[2] == "output":
            guard let id = StepID(segments[1]) else {
                throw TemplateError(offset: offset, message: "'\(segments[1])' is not a step id", hint: StepID.rule)
            }
            self = .stepOutput(id, path: Array(segments.dropFirst(3)))
        case ("params", 2): self = .param(segments[1])
        case ("secrets", 2): self = .secret(segments[1])
        case ("item", _): self = .item(path: Array(segments.dropFirst()))
        case ("run", 2) where segments[1] == "id": self = .runID
        case ("run", 2) where segments[1] == "trigger": self = .runTrigger
        case ("job", 2) where segments[1] == "id": self = .jobID
        case ("args", 2...): self = .args(path: Array(segments.dropFirst()))
        case ("trigger", 2...) where ["kind", "source", "delivery", "headers", "payload"].contains(segments[1]):
            self = .trigger(path: Array(segments.dropFirst()))
        default:
            throw TemplateError(offset: offset, message: "unknown reference '\(text)'", hint: "expected \(Self.forms)")
        }
    }

    static func isPathCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_" || character == "-")
    }
}

/// A template that could not be parsed.
public struct TemplateError: Error, Sendable, Equatable {
    /// Zero-based character offset of the `${{` at fault.
    public var offset: Int
    public var message: String
    public var hint: String?

    public init(offset: Int, message: String, hint: String? = nil) {
        self.offset = offset
        self.message = message
        self.hint = hint
    }
}
