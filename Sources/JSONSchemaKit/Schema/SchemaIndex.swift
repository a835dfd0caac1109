import Foundation

/// Builds what ``JSONSchema`` looks references up in: every subschema by its pointer within each
/// enclosing resource, every anchor, every dynamic anchor, and each resource's vocabularies.
///
/// It walks only through keywords whose values are schemas, so an `$id` inside `const` or
/// `enum` (which is data) is not taken for one.
struct SchemaIndex {
    var locations: [String: JSONSchema.Location] = [:]
    var dynamicAnchors: [String: JSONSchema.Location] = [:]
    var vocabularies: [String: Vocabularies] = [:]
    /// Resources each document's `$schema` names, to read their `$vocabulary` once loaded.
    private var metaSchemaOf: [String: String] = [:]
    /// Every `$ref`/`$dynamicRef` found: its absolute target and where it was written.
    private(set) var references: [(target: String, at: String)] = []

    /// Keywords whose value is one schema.
    static let singleSchemaKeywords: Set<String> = [
        "additionalProperties", "unevaluatedProperties", "unevaluatedItems", "items", "contains", "propertyNames",
        "not", "if", "then", "else", "contentSchema",
    ]
    /// Keywords whose value is an array of schemas.
    static let schemaArrayKeywords: Set<String> = ["prefixItems", "allOf", "anyOf", "oneOf"]
    /// Keywords whose value maps names to schemas.
    static let schemaMapKeywords: Set<String> = ["$defs", "properties", "patternProperties", "dependentSchemas"]

    /// The built-in meta-schemas, indexed once; every schema's index starts from a copy.
    static let metaSchemas: SchemaIndex = {
        var index = SchemaIndex()
        for (uri, document) in MetaSchemas.parsed.sorted(by: { $0.key < $1.key }) {
            index.add(document: document, at: uri)
        }
        try? index.loadReferencedDocuments(retrieve: nil)
        index.references = []  // checked once, here: a schema's own references are what it checks
        return index
    }()

    /// Indexes `document`, retrieved from `uri` (the resource it is unless its root has an `$id`).
    mutating func add(document: JSONValue, at uri: String) {
        walk(document, base: uri, chain: [(uri, [])], tokens: [], vocabularyOwner: uri)
    }

    /// The location of `value` when it is the root of a document added at `base`.
    func location(of value: JSONValue, base: String) -> JSONSchema.Location {
        if case .object(let members) = value, case .string(let id)? = members["$id"] {
            let resource = URIReference(base).resolving(id).withoutFragment
            if let found = locations[resource] { return found }
        }
        return locations[base] ?? JSONSchema.Location(value: value, base: base, resource: base)
    }

    private mutating func walk(
        _ value: JSONValue, base: String, chain: [(String, [String])], tokens: [String], vocabularyOwner: String
    ) {
        var base = base
        var chain = chain
        var owner = vocabularyOwner
        if case .object(let members) = value {
            if case .string(let id)? = members["$id"] {
                base = URIReference(base).resolving(id).withoutFragment
                chain.append((base, []))
                owner = base
            }
            if case .string(let meta)? = members["$schema"] {
                let resolved = URIReference(base).resolving(meta).withoutFragment
                metaSchemaOf[owner] = resolved
                references.append((resolved, JSONPointer.make(tokens) + "/$schema"))
            } else if vocabularyOwner != owner {
                metaSchemaOf[owner] = metaSchemaOf[vocabularyOwner]  // inherits the enclosing one's
            }
        }
        let location = JSONSchema.Location(value: value, base: base, resource: chain.last?.0 ?? base)
        for (resource, path) in chain {
            let pointer = JSONPointer.make(path)
            locations[pointer.isEmpty ? resource : "\(resource)#\(pointer)"] = location
        }
        guard case .object(let members) = value else { return }
        if case .string(let anchor)? = members["$anchor"] { locations["\(base)#\(anchor)"] = location }
        if case .string(let anchor)? = members["$dynamicAnchor"] {
            locations["\(base)#\(anchor)"] = location
            dynamicAnchors["\(base)#\(anchor)"] = location
        }
        for keyword in ["$ref", "$dynamicRef"] {
            if case .string(let reference)? = members[keyword] {
                references.append((URIReference(base).resolving(reference).text, JSONPointer.make(tokens + [keyword])))
            }
        }
        for (keyword, child) in members.sorted(by: { $0.key < $1.key }) {
            var children: [(String?, JSONValue)] = []
            if Self.singleSchemaKeywords.contains(keyword) {
                children = [(nil, child)]
            } else if Self.schemaArrayKeywords.contains(keyword), case .array(let items) = child {
                children = items.enumerated().map { (String($0.offset), $0.element) }
            } else if Self.schemaMapKeywords.contains(keyword), case .object(let map) = child {
                children = map.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            }
            for (name, schema) in children {
                let step = [keyword] + (name.map { [$0] } ?? [])
                walk(
                    schema, base: base, chain: chain.map { ($0.0, $0.1 + step) }, tokens: tokens + step,
                    vocabularyOwner: owner)
            }
        }
    }

    /// Loads, until none is missing, every document a reference or `$schema` names: built-in
    /// meta-schemas first, then `retrieve`. Then works out each resource's vocabularies.
    mutating func loadReferencedDocuments(retrieve: ((String) -> JSONValue?)?) throws(SchemaError) {
        var done = 0
        while done < references.count {
            let (target, at) = references[done]
            done += 1
            let document = URIReference(target).withoutFragment
            if locations[document] != nil { continue }
            if let value = MetaSchemas.parsed[document] {
                add(document: value, at: document)
            } else if let value = retrieve?(document) {
                add(document: value, at: document)
            } else {
                throw .unresolvable(reference: target, at: at)
            }
        }
        for (resource, meta) in metaSchemaOf {
            guard case .object(let members)? = locations[meta]?.value,
                case .object(let declared)? = members["$vocabulary"]
            else { continue }
            vocabularies[resource] = Vocabularies(declared: declared)
        }
    }

    /// Every reference resolves to a schema.
    func checkReferences() throws(SchemaError) {
        for (target, at) in references where resolve(target) == nil {
            throw .unresolvable(reference: target, at: at)
        }
    }

    /// The subschema an absolute URI (with or without fragment) names, or nil.
    func resolve(_ target: String) -> JSONSchema.Location? {
        Self.resolve(target, in: locations)
    }

    static func resolve(_ target: String, in locations: [String: JSONSchema.Location]) -> JSONSchema.Location? {
        let reference = URIReference(target)
        let resource = reference.withoutFragment
        guard let fragment = reference.fragment, !fragment.isEmpty else { return locations[resource] }
        guard fragment.hasPrefix("/") else { return locations["\(resource)#\(fragment)"] }
        guard let decoded = JSONPointer.percentDecoded(fragment), let tokens = JSONPointer.tokens(decoded) else {
            return nil
        }
        if let found = locations["\(resource)#\(JSONPointer.make(tokens))"] { return found }
        // A pointer to a place no schema keyword leads to (inside an unknown keyword): follow it.
        guard let root = locations[resource], let value = JSONPointer.follow(tokens, in: root.value) else { return nil }
        return JSONSchema.Location(value: value, base: root.base, resource: root.resource)
    }
}
