import Foundation

/// A JSON Schema (draft 2020-12), ready to validate instances.
///
/// Everything a schema refers to is found when it is made: every `$id`, `$anchor` and
/// `$dynamicAnchor` is indexed, and every `$ref`, `$dynamicRef` and `$schema` target is loaded
/// (the 2020-12 meta-schemas are built in; other documents only through `retrieve`). Validation
/// then reads nothing and cannot fail on the schema's account.
public struct JSONSchema: Sendable {
    /// A subschema as evaluation meets it: its value, the base URI its references resolve
    /// against, and the schema resource it belongs to (for `$dynamicRef`'s dynamic scope).
    struct Location: Sendable {
        let value: JSONValue
        let base: String
        let resource: String
    }

    /// The root of the schema.
    let root: Location
    /// Every subschema reachable through schema keywords, by `resource#pointer`, by
    /// `resource#anchor`, and (for resource roots) by the resource's URI.
    let locations: [String: Location]
    /// Subschemas with a `$dynamicAnchor`, by `resource#name`.
    let dynamicAnchors: [String: Location]
    /// The vocabularies in force in each resource (from its meta-schema's `$vocabulary`).
    let vocabularies: [String: Vocabularies]

    /// The base URI of a schema without `$id`.
    static let defaultBase = "wfd:/schema.json"

    /// Makes `document` ready to validate with.
    ///
    /// `retrieve` returns the document at an absolute URI (without fragment) that the schema
    /// refers to and that is not one of the built-in meta-schemas; nil means it cannot be had.
    /// Throws ``SchemaError`` when a reference cannot be resolved or the schema itself is not
    /// valid against the 2020-12 meta-schema (with `checkAgainstMetaSchema`).
    public init(
        _ document: JSONValue, checkAgainstMetaSchema: Bool = true,
        retrieve: ((String) -> JSONValue?)? = nil
    ) throws(SchemaError) {
        var index = SchemaIndex.metaSchemas
        index.add(document: document, at: Self.defaultBase)
        try index.loadReferencedDocuments(retrieve: retrieve)
        try index.checkReferences()
        root = index.location(of: document, base: Self.defaultBase)
        locations = index.locations
        dynamicAnchors = index.dynamicAnchors
        vocabularies = index.vocabularies
        if checkAgainstMetaSchema {
            guard let meta = Self.metaSchema else {
                throw SchemaError.unresolvable(reference: MetaSchemas.draft202012, at: "$schema")
            }
            let problems = meta.validate(document)
            if !problems.isEmpty { throw SchemaError.invalidSchema(problems) }
        }
        for (key, location) in locations.sorted(by: { $0.key < $1.key }) {
            guard case .object(let members) = location.value else { continue }
            var patterns = members["pattern"]?.stringValue.map { [$0] } ?? []
            if case .object(let map)? = members["patternProperties"] { patterns += map.keys.sorted() }
            for pattern in patterns where Self.expression(pattern) == nil {
                throw SchemaError.invalidPattern(pattern, at: key)
            }
        }
    }

    /// The 2020-12 meta-schema, as a schema to validate schemas with (made once).
    static let metaSchema: JSONSchema? = {
        guard let value = MetaSchemas.parsed[MetaSchemas.draft202012] else { return nil }
        return try? JSONSchema(value, checkAgainstMetaSchema: false)
    }()

    /// Every way `instance` breaks the schema, in the order the schema is written; empty when it
    /// is valid.
    public func validate(_ instance: JSONValue) -> [SchemaViolation] {
        evaluate(root, instance, Evaluation()).violations
    }

    /// True when `instance` is valid.
    public func accepts(_ instance: JSONValue) -> Bool { validate(instance).isEmpty }
}

/// One way an instance breaks a schema: where in the instance, which keyword, and what is wrong,
/// said so that a person (or a model asked to repair its output) can act on it.
public struct SchemaViolation: Sendable, Equatable, Codable, CustomStringConvertible {
    /// JSON Pointer to the offending value (`""` is the whole instance).
    public let instancePath: String
    /// JSON Pointer to the keyword, along the path evaluation took (through `$ref`s).
    public let schemaPath: String
    public let message: String

    public init(instancePath: String, schemaPath: String, message: String) {
        self.instancePath = instancePath
        self.schemaPath = schemaPath
        self.message = message
    }

    public var description: String {
        "\(instancePath.isEmpty ? "the value" : instancePath) \(message) (schema: \(schemaPath.isEmpty ? "/" : schemaPath))"
    }

    enum CodingKeys: String, CodingKey {
        case instancePath = "instance_path"
        case schemaPath = "schema_path"
        case message
    }
}

/// Why a schema cannot be used.
public enum SchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A `$ref`, `$dynamicRef` or `$schema` names something that is not there.
    case unresolvable(reference: String, at: String)
    /// The schema breaks the 2020-12 meta-schema.
    case invalidSchema([SchemaViolation])
    /// A `pattern` or `patternProperties` key is not a regular expression.
    case invalidPattern(String, at: String)

    public var description: String {
        switch self {
        case .unresolvable(let reference, let at):
            return "the reference '\(reference)' at \(at.isEmpty ? "the root" : at) cannot be resolved: "
                + "wfd does not fetch schemas; put it under $defs and refer to it as '#/$defs/NAME'"
        case .invalidSchema(let problems):
            return "it is not a valid JSON Schema (draft 2020-12): "
                + problems.prefix(3).map(\.description).joined(separator: "; ")
        case .invalidPattern(let pattern, let at):
            return "'\(pattern)' at \(at) is not a valid regular expression"
        }
    }
}

/// The vocabularies of draft 2020-12 that change what evaluation does.
struct Vocabularies: OptionSet, Sendable {
    let rawValue: UInt8
    static let applicator = Vocabularies(rawValue: 1)
    static let validation = Vocabularies(rawValue: 2)
    static let unevaluated = Vocabularies(rawValue: 4)
    static let all: Vocabularies = [.applicator, .validation, .unevaluated]

    /// From a meta-schema's `$vocabulary`; vocabularies that only annotate are not listed.
    init(declared: [String: JSONValue]) {
        var set: Vocabularies = []
        let prefix = "https://json-schema.org/draft/2020-12/vocab/"
        if declared[prefix + "applicator"] != nil { set.insert(.applicator) }
        if declared[prefix + "validation"] != nil { set.insert(.validation) }
        if declared[prefix + "unevaluated"] != nil { set.insert(.unevaluated) }
        self = set
    }

    init(rawValue: UInt8) { self.rawValue = rawValue }
}

extension MetaSchemas {
    static let draft202012 = "https://json-schema.org/draft/2020-12/schema"

    /// The documents parsed, once.
    static let parsed: [String: JSONValue] = documents.compactMapValues { JSONValue.parse(Data($0.utf8)) }
}
