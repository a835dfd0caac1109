import Foundation

/// A recursive-descent parser of CEL's grammar, for the subset ``ConditionExpression`` takes.
struct ConditionParser {
    let characters: [Character]
    var position = 0
    /// Nesting depth, bounded so that a hostile file cannot exhaust the stack.
    var depth = 0
    /// How deep parentheses, lists, calls and `!`/`-` may nest while parsing.
    static let maximumDepth = 16
    /// How tall the tree may grow (a chain `a.b.c…` or `x && y && …` grows it without nesting):
    /// checking and evaluating recurse through it, on threads with 512 KiB stacks.
    static let maximumHeight = 32

    func make(_ kind: ConditionExpression.Node.Kind, _ offset: Int) throws(ConditionError) -> ConditionExpression.Node {
        let node = ConditionExpression.Node(kind: kind, offset: offset)
        guard node.height <= Self.maximumHeight else {
            throw error("the expression is too deep (more than \(Self.maximumHeight) levels)", at: offset)
        }
        return node
    }

    init(_ text: String) { characters = Array(text) }

    var atEnd: Bool {
        var index = position
        while index < characters.count, characters[index].isWhitespace { index += 1 }
        return index >= characters.count
    }

    func error(_ message: String, at offset: Int? = nil, hint: String? = nil) -> ConditionError {
        ConditionError(offset: offset ?? position, message: message, hint: hint)
    }

    mutating func skipSpace() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    func describeCurrent() -> String {
        var index = position
        while index < characters.count, characters[index].isWhitespace { index += 1 }
        return index < characters.count ? "'\(characters[index])'" : "the end"
    }

    /// Consumes `token` (after spaces) when it comes next.
    mutating func accept(_ token: String) -> Bool {
        skipSpace()
        let expected = Array(token)
        guard position + expected.count <= characters.count,
            Array(characters[position..<(position + expected.count)]) == expected
        else { return false }
        // `in` is a word: not the start of `index`.
        if token.first?.isLetter == true, position + expected.count < characters.count,
            Self.isIdentifierCharacter(characters[position + expected.count])
        {
            return false
        }
        position += expected.count
        return true
    }

    mutating func expect(_ token: String, _ what: String) throws(ConditionError) {
        guard accept(token) else { throw error("expected '\(token)' \(what), found \(describeCurrent())") }
    }

    static func isIdentifierCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_")
    }

    mutating func nested<T>(_ body: (inout ConditionParser) throws(ConditionError) -> T) throws(ConditionError) -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw error("the expression nests too deeply") }
        return try body(&self)
    }

    mutating func parseExpression() throws(ConditionError) -> ConditionExpression.Node {
        skipSpace()
        guard position < characters.count else { throw error("an empty condition") }
        return try nested { (parser: inout ConditionParser) throws(ConditionError) in try parser.parseOr() }
    }

    mutating func parseOr() throws(ConditionError) -> ConditionExpression.Node {
        var left = try parseAnd()
        while true {
            skipSpace()
            let offset = position
            guard accept("||") else { return left }
            left = try make(.binary(.or, left, try parseAnd()), offset)
        }
    }

    mutating func parseAnd() throws(ConditionError) -> ConditionExpression.Node {
        var left = try parseRelation()
        while true {
            skipSpace()
            let offset = position
            guard accept("&&") else { return left }
            left = try make(.binary(.and, left, try parseRelation()), offset)
        }
    }

    mutating func parseRelation() throws(ConditionError) -> ConditionExpression.Node {
        var left = try parseUnary()
        while true {
            skipSpace()
            let offset = position
            var found: ConditionExpression.BinaryOperator?
            for candidate in [
                ConditionExpression.BinaryOperator.equal, .notEqual, .lessOrEqual, .greaterOrEqual, .less, .greater,
                .isIn,
            ] where accept(candidate.rawValue) {
                found = candidate
                break
            }
            if found == nil, accept("=") {
                throw error("'=' is not a comparison: write '=='", at: offset)
            }
            guard let found else { return left }
            left = try make(.binary(found, left, try parseUnary()), offset)
        }
    }

    mutating func parseUnary() throws(ConditionError) -> ConditionExpression.Node {
        skipSpace()
        let offset = position
        if accept("!") {
            return try make(
                .not(
                    try nested { (parser: inout ConditionParser) throws(ConditionError) in try parser.parseUnary() }),
                offset)
        }
        if accept("-") {
            return try make(
                .negate(
                    try nested { (parser: inout ConditionParser) throws(ConditionError) in try parser.parseUnary() }),
                offset)
        }
        return try parseMember()
    }

    mutating func parseMember() throws(ConditionError) -> ConditionExpression.Node {
        var node = try parsePrimary()
        while true {
            skipSpace()
            let offset = position
            if accept(".") {
                skipSpace()
                let nameOffset = position
                guard let name = identifier() else {
                    throw error("expected a field or function name after '.', found \(describeCurrent())")
                }
                skipSpace()
                if position < characters.count, characters[position] == "(" {
                    position += 1
                    if name == "exists" {
                        skipSpace()
                        let variableOffset = position
                        guard let variable = identifier() else {
                            throw error("exists takes a variable name and a condition: list.exists(x, x > 1)")
                        }
                        guard !ConditionExpression.variables.contains(variable) || variable == "item" else {
                            throw error(
                                "'\(variable)' is a variable of its own; choose another name", at: variableOffset)
                        }
                        try expect(",", "after the variable of exists")
                        let predicate = try parseExpression()
                        try expect(")", "to close exists(…)")
                        node = try make(.exists(node, variable: variable, predicate: predicate), nameOffset)
                        continue
                    }
                    let arguments = try parseArguments()
                    guard ["contains", "startsWith", "endsWith", "size"].contains(name) else {
                        throw error(
                            "unknown function '\(name)'", at: nameOffset,
                            hint: "functions: contains, startsWith, endsWith, size, exists, has")
                    }
                    node = try make(.call(name, target: node, arguments: arguments), nameOffset)
                } else {
                    node = try make(.select(node, field: name), nameOffset)
                }
            } else if accept("[") {
                let key = try parseExpression()
                try expect("]", "to close the index")
                node = try make(.index(node, key), offset)
            } else {
                return node
            }
        }
    }

    mutating func parseArguments() throws(ConditionError) -> [ConditionExpression.Node] {
        var arguments: [ConditionExpression.Node] = []
        if accept(")") { return arguments }
        while true {
            arguments.append(try parseExpression())
            if accept(")") { return arguments }
            try expect(",", "between arguments")
        }
    }

    mutating func identifier() -> String? {
        let start = position
        guard position < characters.count, characters[position].isASCII,
            characters[position].isLetter || characters[position] == "_"
        else { return nil }
        while position < characters.count, Self.isIdentifierCharacter(characters[position]) { position += 1 }
        // Step ids may have '-' (steps.fetch-items.output): CEL would read a minus; wfd reads the id.
        while position + 1 < characters.count, characters[position] == "-",
            Self.isIdentifierCharacter(characters[position + 1]), start > 0, characters[start - 1] == "."
        {
            position += 1
            while position < characters.count, Self.isIdentifierCharacter(characters[position]) { position += 1 }
        }
        return String(characters[start..<position])
    }

    mutating func parsePrimary() throws(ConditionError) -> ConditionExpression.Node {
        skipSpace()
        let offset = position
        guard position < characters.count else { throw error("expected a value, found the end") }
        let character = characters[position]
        if character == "(" {
            position += 1
            let inner = try parseExpression()
            try expect(")", "to close the parenthesis")
            return inner
        }
        if character == "[" {
            position += 1
            var items: [ConditionExpression.Node] = []
            if !accept("]") {
                while true {
                    items.append(try parseExpression())
                    if accept("]") { break }
                    try expect(",", "between list items")
                }
            }
            return try make(.list(items), offset)
        }
        if character == "\"" || character == "'" { return try make(.literal(.string(try string())), offset) }
        if character.isASCII && character.isNumber { return try make(.literal(try number()), offset) }
        guard let name = identifier() else {
            throw error(
                "unexpected '\(character)'", hint: "expected a value, a variable (steps, params, run, item) or '('")
        }
        switch name {
        case "true": return try make(.literal(.bool(true)), offset)
        case "false": return try make(.literal(.bool(false)), offset)
        case "null": return try make(.literal(.null), offset)
        default: break
        }
        skipSpace()
        if position < characters.count, characters[position] == "(" {
            position += 1
            switch name {
            case "size":
                let arguments = try parseArguments()
                guard arguments.count == 1 else { throw error("size takes one argument", at: offset) }
                return try make(.call("size", target: nil, arguments: arguments), offset)
            case "has":
                let argument = try parseExpression()
                try expect(")", "to close has(…)")
                guard case .select = argument.kind else {
                    throw error("has takes a field selection, like has(steps.fetch.output.source)", at: offset)
                }
                return try make(.call("has", target: nil, arguments: [argument]), offset)
            default:
                throw error(
                    "unknown function '\(name)'", at: offset,
                    hint:
                        "functions: size(x), has(a.b), and s.contains(t), s.startsWith(t), s.endsWith(t), list.exists(x, p)"
                )
            }
        }
        return try make(.identifier(name), offset)
    }

    mutating func string() throws(ConditionError) -> String {
        let start = position
        let quote = characters[position]
        position += 1
        var text = ""
        while position < characters.count {
            let character = characters[position]
            position += 1
            if character == quote { return text }
            guard character == "\\" else {
                text.append(character)
                continue
            }
            guard position < characters.count else { break }
            let escaped = characters[position]
            position += 1
            switch escaped {
            case "\\", "'", "\"", "`", "?": text.append(escaped)
            case "n": text.append("\n")
            case "r": text.append("\r")
            case "t": text.append("\t")
            case "u":
                guard position + 4 <= characters.count,
                    let code = UInt32(String(characters[position..<(position + 4)]), radix: 16),
                    let scalar = Unicode.Scalar(code)
                else { throw error("\\u takes four hex digits of a character", at: position - 2) }
                text.unicodeScalars.append(scalar)
                position += 4
            default: throw error("unknown escape '\\\(escaped)' in a string", at: position - 2)
            }
        }
        throw error("the string is not closed with \(quote)", at: start)
    }

    mutating func number() throws(ConditionError) -> ConditionValue {
        let start = position
        while position < characters.count, characters[position].isASCII, characters[position].isNumber {
            position += 1
        }
        var isDouble = false
        if position + 1 < characters.count, characters[position] == ".", characters[position + 1].isNumber {
            isDouble = true
            position += 1
            while position < characters.count, characters[position].isASCII, characters[position].isNumber {
                position += 1
            }
        }
        if position < characters.count, characters[position] == "e" || characters[position] == "E" {
            isDouble = true
            position += 1
            if position < characters.count, characters[position] == "+" || characters[position] == "-" { position += 1 }
            while position < characters.count, characters[position].isASCII, characters[position].isNumber {
                position += 1
            }
        }
        let text = String(characters[start..<position])
        if isDouble, let value = Double(text), value.isFinite { return .double(value) }
        if !isDouble, let value = Int64(text) { return .int(value) }
        throw error("'\(text)' is not a number wfd can read", at: start)
    }
}
