import Foundation

/// Evaluating a schema against an instance: references, applicators, and the annotations
/// (`properties`/`items` that some keyword evaluated) that `unevaluated*` depend on.
extension JSONSchema {
    /// Where evaluation is: the dynamic scope, the paths for messages, and the references being
    /// followed (a reference met again at the same instance location would never end).
    struct Evaluation {
        var dynamicScope: [String] = []
        var instancePath: [String] = []
        var schemaPath: [String] = []
        var following: Set<String> = []

        func into(instance: String? = nil, schema: [String]) -> Evaluation {
            var next = self
            if let instance { next.instancePath.append(instance) }
            next.schemaPath += schema
            return next
        }

        func violation(_ message: String, keyword: String? = nil) -> SchemaViolation {
            SchemaViolation(
                instancePath: JSONPointer.make(instancePath),
                schemaPath: JSONPointer.make(schemaPath + (keyword.map { [$0] } ?? [])), message: message)
        }
    }

    /// What evaluating one schema found: its violations, and which members and items of the
    /// instance its keywords evaluated (kept only when it is valid).
    struct Outcome {
        var violations: [SchemaViolation] = []
        var properties: Set<String> = []
        var items: Set<Int> = []

        var isValid: Bool { violations.isEmpty }

        /// Takes in the outcome of a subschema applied to a member or item: only its violations,
        /// since what it evaluated is inside that member, not of this instance.
        mutating func absorbViolations(of other: Outcome) {
            violations += other.violations
        }

        /// Takes in the outcome of a subschema applied to the same instance: its violations, and
        /// its annotations when it is valid.
        mutating func absorb(_ other: Outcome) {
            violations += other.violations
            if other.isValid {
                properties.formUnion(other.properties)
                items.formUnion(other.items)
            }
        }
    }

    /// How deep references may nest before evaluation gives up (hostile or runaway schemas).
    static let maximumDepth = 128

    func evaluate(_ location: Location, _ instance: JSONValue, _ evaluation: Evaluation) -> Outcome {
        if evaluation.instancePath.count > Self.maximumDepth || evaluation.schemaPath.count > Self.maximumDepth * 4 {
            return Outcome(violations: [evaluation.violation("is nested too deeply to be checked")])
        }
        guard case .object(let schema) = location.value else {
            if case .bool(false) = location.value {
                return Outcome(violations: [evaluation.violation("is not allowed (the schema is false)")])
            }
            return Outcome()  // true, or not a schema (the meta-schema check refuses those)
        }
        var evaluation = evaluation
        if evaluation.dynamicScope.last != location.resource { evaluation.dynamicScope.append(location.resource) }
        let vocabularies = vocabularies[location.resource] ?? .all
        var outcome = Outcome()
        if case .string(let reference)? = schema["$ref"] {
            outcome.absorb(follow(reference, dynamic: false, keyword: "$ref", from: location, instance, evaluation))
        }
        if case .string(let reference)? = schema["$dynamicRef"] {
            outcome.absorb(
                follow(reference, dynamic: true, keyword: "$dynamicRef", from: location, instance, evaluation))
        }
        if vocabularies.contains(.applicator) {
            applyInPlace(schema, location, instance, evaluation, into: &outcome)
            applyToChildren(schema, location, instance, evaluation, into: &outcome)
        }
        if vocabularies.contains(.validation) {
            outcome.violations += assertions(schema, instance, evaluation)
        }
        if vocabularies.contains(.unevaluated) {
            applyUnevaluated(schema, location, instance, evaluation, into: &outcome)
        }
        return outcome
    }

    /// The location of a subschema met inside `parent`: its own resource when it has an `$id`.
    func child(_ value: JSONValue, of parent: Location) -> Location {
        if case .object(let members) = value, case .string(let id)? = members["$id"],
            let found = locations[URIReference(parent.base).resolving(id).withoutFragment]
        {
            return found
        }
        return Location(value: value, base: parent.base, resource: parent.resource)
    }

    func follow(
        _ reference: String, dynamic: Bool, keyword: String, from location: Location, _ instance: JSONValue,
        _ evaluation: Evaluation
    ) -> Outcome {
        let target = URIReference(location.base).resolving(reference)
        guard var found = SchemaIndex.resolve(target.text, in: locations) else {
            return Outcome(violations: [
                evaluation.violation("refers to '\(target.text)', which does not exist", keyword: keyword)
            ])
        }
        // A dynamic reference whose static target is a matching $dynamicAnchor resolves to the
        // outermost resource in the dynamic scope that has the same dynamic anchor.
        if dynamic, let name = target.fragment, !name.isEmpty, !name.hasPrefix("/"),
            dynamicAnchors["\(target.withoutFragment)#\(name)"] != nil
        {
            for resource in evaluation.dynamicScope {
                if let outer = dynamicAnchors["\(resource)#\(name)"] {
                    found = outer
                    break
                }
            }
        }
        let key = "\(found.resource)|\(target.text)|\(JSONPointer.make(evaluation.instancePath))"
        if evaluation.following.contains(key) {
            return Outcome(
                violations: [
                    evaluation.violation(
                        "cannot be checked: the schema refers to itself without going deeper into the value",
                        keyword: keyword)
                ])
        }
        var next = evaluation.into(schema: [keyword])
        next.following.insert(key)
        return evaluate(found, instance, next)
    }

    /// allOf, anyOf, oneOf, not, if/then/else, dependentSchemas: subschemas applied to the
    /// instance itself.
    private func applyInPlace(
        _ schema: [String: JSONValue], _ location: Location, _ instance: JSONValue, _ evaluation: Evaluation,
        into outcome: inout Outcome
    ) {
        func run(_ value: JSONValue, _ path: [String]) -> Outcome {
            evaluate(child(value, of: location), instance, evaluation.into(schema: path))
        }
        if case .array(let all)? = schema["allOf"] {
            for (index, subschema) in all.enumerated() { outcome.absorb(run(subschema, ["allOf", String(index)])) }
        }
        if case .array(let any)? = schema["anyOf"] {
            let results = any.enumerated().map { run($0.element, ["anyOf", String($0.offset)]) }
            if results.contains(where: \.isValid) {
                results.filter(\.isValid).forEach { outcome.absorb($0) }
            } else {
                outcome.violations.append(
                    evaluation.violation("matches none of the schemas in anyOf", keyword: "anyOf"))
                outcome.violations += Self.closest(results, under: evaluation.schemaPath + ["anyOf"]).violations
            }
        }
        if case .array(let one)? = schema["oneOf"] {
            let results = one.enumerated().map { run($0.element, ["oneOf", String($0.offset)]) }
            let matching = results.indices.filter { results[$0].isValid }
            if matching.count == 1 {
                outcome.absorb(results[matching[0]])
            } else if matching.isEmpty {
                outcome.violations.append(
                    evaluation.violation("matches none of the schemas in oneOf", keyword: "oneOf"))
                outcome.violations += Self.closest(results, under: evaluation.schemaPath + ["oneOf"]).violations
            } else {
                let which = matching.map(String.init).joined(separator: ", ")
                outcome.violations.append(
                    evaluation.violation(
                        "must match exactly one schema in oneOf, but matches \(matching.count) (\(which))",
                        keyword: "oneOf"))
            }
        }
        if let not = schema["not"], run(not, ["not"]).isValid {
            outcome.violations.append(evaluation.violation("must not match the schema in 'not'", keyword: "not"))
        }
        if let condition = schema["if"] {
            let test = run(condition, ["if"])
            if test.isValid {
                outcome.absorb(test)
                if let then = schema["then"] { outcome.absorb(run(then, ["then"])) }
            } else if let otherwise = schema["else"] {
                outcome.absorb(run(otherwise, ["else"]))
            }
        }
        if case .object(let dependents)? = schema["dependentSchemas"], case .object(let members) = instance {
            for (name, subschema) in dependents.sorted(by: { $0.key < $1.key }) where members[name] != nil {
                outcome.absorb(run(subschema, ["dependentSchemas", name]))
            }
        }
    }

    /// The failed alternative most worth reporting: one whose `type` fits the value, then the
    /// one with the fewest violations.
    static func closest(_ results: [Outcome], under path: [String]) -> Outcome {
        func rank(_ index: Int) -> (Int, Int) {
            let typeKeyword = JSONPointer.make(path + [String(index), "type"])
            let wrongType = results[index].violations.contains { $0.schemaPath == typeKeyword }
            return (wrongType ? 1 : 0, results[index].violations.count)
        }
        return results.indices.min { rank($0) < rank($1) }.map { results[$0] } ?? Outcome()
    }

    /// prefixItems, items, contains, properties, patternProperties, additionalProperties,
    /// propertyNames: subschemas applied to the instance's items and members.
    private func applyToChildren(
        _ schema: [String: JSONValue], _ location: Location, _ instance: JSONValue, _ evaluation: Evaluation,
        into outcome: inout Outcome
    ) {
        func run(_ value: JSONValue, _ member: JSONValue, at instancePath: String, _ path: [String]) -> Outcome {
            evaluate(child(value, of: location), member, evaluation.into(instance: instancePath, schema: path))
        }
        if case .array(let items) = instance {
            var prefixCount = 0
            if case .array(let prefix)? = schema["prefixItems"] {
                prefixCount = prefix.count
                for (index, item) in items.enumerated() where index < prefix.count {
                    outcome.absorbViolations(
                        of: run(prefix[index], item, at: String(index), ["prefixItems", String(index)]))
                    outcome.items.insert(index)
                }
            }
            if let rest = schema["items"] {
                for (index, item) in items.enumerated() where index >= prefixCount {
                    outcome.absorbViolations(of: run(rest, item, at: String(index), ["items"]))
                    outcome.items.insert(index)
                }
            }
            if let contains = schema["contains"] {
                applyContains(contains, schema, location, items, evaluation, into: &outcome)
            }
        }
        guard case .object(let members) = instance else { return }
        var matched: Set<String> = []
        if case .object(let properties)? = schema["properties"] {
            for (name, value) in members.sorted(by: { $0.key < $1.key }) {
                guard let subschema = properties[name] else { continue }
                matched.insert(name)
                outcome.absorbViolations(of: run(subschema, value, at: name, ["properties", name]))
                outcome.properties.insert(name)
            }
        }
        if case .object(let patterns)? = schema["patternProperties"] {
            for (pattern, subschema) in patterns.sorted(by: { $0.key < $1.key }) {
                for (name, value) in members.sorted(by: { $0.key < $1.key }) where Self.matches(pattern, name) {
                    matched.insert(name)
                    outcome.absorbViolations(of: run(subschema, value, at: name, ["patternProperties", pattern]))
                    outcome.properties.insert(name)
                }
            }
        }
        if let additional = schema["additionalProperties"] {
            for (name, value) in members.sorted(by: { $0.key < $1.key }) where !matched.contains(name) {
                var result = run(additional, value, at: name, ["additionalProperties"])
                if case .bool(false) = additional {
                    result.violations = [
                        evaluation.into(instance: name, schema: []).violation(
                            "is not allowed: '\(name)' is not among the properties the schema names",
                            keyword: "additionalProperties")
                    ]
                }
                outcome.absorbViolations(of: result)
                outcome.properties.insert(name)
            }
        }
        if let names = schema["propertyNames"] {
            for name in members.keys.sorted() {
                let result = run(names, .string(name), at: name, ["propertyNames"])
                if !result.isValid {
                    outcome.violations.append(
                        evaluation.into(instance: name, schema: []).violation(
                            "is not an allowed property name: "
                                + result.violations.map(\.message).joined(separator: "; "),
                            keyword: "propertyNames"))
                }
            }
        }
    }

    private func applyContains(
        _ contains: JSONValue, _ schema: [String: JSONValue], _ location: Location, _ items: [JSONValue],
        _ evaluation: Evaluation, into outcome: inout Outcome
    ) {
        var matching: [Int] = []
        for (index, item) in items.enumerated() {
            let result = evaluate(
                child(contains, of: location), item, evaluation.into(instance: String(index), schema: ["contains"]))
            if result.isValid { matching.append(index) }
        }
        var minimum = 1
        var maximum: Int?
        let validation = (vocabularies[location.resource] ?? .all).contains(.validation)
        if validation, let value = schema["minContains"]?.integerValue { minimum = value }
        if validation, let value = schema["maxContains"]?.integerValue { maximum = value }
        if matching.count < minimum {
            let what = minimum == 1 ? "an item" : "at least \(minimum) items"
            outcome.violations.append(
                evaluation.violation(
                    "must contain \(what) matching 'contains' (it has \(matching.count))",
                    keyword: minimum == 1 ? "contains" : "minContains"))
        } else if let maximum, matching.count > maximum {
            outcome.violations.append(
                evaluation.violation(
                    "must contain at most \(maximum) items matching 'contains' (it has \(matching.count))",
                    keyword: "maxContains"))
        }
        outcome.items.formUnion(matching)
    }

    /// unevaluatedItems and unevaluatedProperties: what no other keyword of this schema (or of
    /// the subschemas it applied successfully) evaluated.
    private func applyUnevaluated(
        _ schema: [String: JSONValue], _ location: Location, _ instance: JSONValue, _ evaluation: Evaluation,
        into outcome: inout Outcome
    ) {
        if let unevaluated = schema["unevaluatedItems"], case .array(let items) = instance {
            for (index, item) in items.enumerated() where !outcome.items.contains(index) {
                var result = evaluate(
                    child(unevaluated, of: location), item,
                    evaluation.into(instance: String(index), schema: ["unevaluatedItems"]))
                if case .bool(false) = unevaluated {
                    result.violations = [
                        evaluation.into(instance: String(index), schema: []).violation(
                            "is not allowed: no keyword of the schema covers this item", keyword: "unevaluatedItems")
                    ]
                }
                outcome.absorbViolations(of: result)
                outcome.items.insert(index)
            }
        }
        if let unevaluated = schema["unevaluatedProperties"], case .object(let members) = instance {
            for (name, value) in members.sorted(by: { $0.key < $1.key }) where !outcome.properties.contains(name) {
                var result = evaluate(
                    child(unevaluated, of: location), value,
                    evaluation.into(instance: name, schema: ["unevaluatedProperties"]))
                if case .bool(false) = unevaluated {
                    result.violations = [
                        evaluation.into(instance: name, schema: []).violation(
                            "is not allowed: '\(name)' is not among the properties the schema names",
                            keyword: "unevaluatedProperties")
                    ]
                }
                outcome.absorbViolations(of: result)
                outcome.properties.insert(name)
            }
        }
    }
}
