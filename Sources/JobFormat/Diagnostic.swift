/// One problem found in a job file, with where it is and how to fix it.
public struct Diagnostic: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var hint: String?

    public init(file: String, line: Int, column: Int, message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
    }

    /// `path:line:column: message (hint)`, the form editors and compilers use.
    public var description: String {
        let base = "\(file):\(line):\(column): \(message)"
        guard let hint else { return base }
        return "\(base) (\(hint))"
    }
}

/// The diagnostics of a job file that could not be loaded.
public struct JobFileError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
