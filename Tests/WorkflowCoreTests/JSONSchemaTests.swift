import Foundation
import JSONSchemaKit
import Testing

/// What the conformance suite does not check: the violations' paths and messages (a model is
/// asked to repair its output from them), and schemas that must be refused or must not hang.
@Suite struct JSONSchemaTests {
    func schema(_ text: String) throws -> JSONSchema {
        try JSONSchema(try #require(JSONValue.parse(Data(text.utf8))))
    }

    func value(_ text: String) throws -> JSONValue { try #require(JSONValue.parse(Data(text.utf8))) }

    @Test func violationsSayWhereWhatAndWhichKeyword() throws {
        let matches = try schema(
            """
            {"type": "object", "required": ["items"], "additionalProperties": false,
             "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
             "$defs": {"item": {"type": "object", "required": ["commit", "task"],
               "properties": {"commit": {"type": "string", "pattern": "^[0-9a-f]{7,40}$"},
                              "task": {"type": "integer", "minimum": 1},
                              "confidence": {"enum": ["high", "low"]}}}}}
            """)
        let violations = matches.validate(
            try value(
                ##"{"items": [{"commit": "abc1234", "task": 7}, {"commit": "XYZ", "task": 0, "confidence": "sure"}], "note": 1}"##
            ))
        #expect(
            violations == [
                SchemaViolation(
                    instancePath: "/items/1/commit",
                    schemaPath: "/properties/items/items/$ref/properties/commit/pattern",
                    message: "must match the regular expression ^[0-9a-f]{7,40}$"),
                SchemaViolation(
                    instancePath: "/items/1/confidence",
                    schemaPath: "/properties/items/items/$ref/properties/confidence/enum",
                    message: ##"must be one of: "high", "low""##),
                SchemaViolation(
                    instancePath: "/items/1/task", schemaPath: "/properties/items/items/$ref/properties/task/minimum",
                    message: "must be at least 1"),
                SchemaViolation(
                    instancePath: "/note", schemaPath: "/additionalProperties",
                    message: "is not allowed: 'note' is not among the properties the schema names"),
            ])
        #expect(
            matches.validate(try value(##"{}"##)).map(\.description) == [
                "the value must have the property 'items' (schema: /required)"
            ])
        #expect(matches.validate(try value(##"[]"##)).map(\.message) == ["must be object, not array"])
    }

    @Test func aFailedAlternativeReportsItsClosestBranch() throws {
        let either = try schema(##"{"anyOf": [{"type": "string"}, {"type": "object", "required": ["a", "b"]}]}"##)
        let violations = either.validate(try value(##"{"a": 1}"##))
        #expect(violations.map(\.message) == ["matches none of the schemas in anyOf", "must have the property 'b'"])
        let exactlyOne = try schema(##"{"oneOf": [{"type": "integer"}, {"minimum": 0}]}"##)
        #expect(
            exactlyOne.validate(.number(3)).map(\.message) == [
                "must match exactly one schema in oneOf, but matches 2 (0, 1)"
            ])
    }

    @Test func schemasThatCannotWorkAreRefusedWhenMade() throws {
        #expect {
            try schema(##"{"$ref": "https://example.com/other.json"}"##)
        } throws: { error in
            "\(error)".contains("'https://example.com/other.json' at /$ref cannot be resolved")
                && "\(error)".contains("put it under $defs")
        }
        #expect(throws: SchemaError.self) { try schema(##"{"$ref": "#/$defs/missing"}"##) }
        #expect {
            try schema(##"{"type": "strnig"}"##)
        } throws: { error in
            guard case .invalidSchema(let problems) = error as? SchemaError else { return false }
            return problems.contains { $0.schemaPath.hasSuffix("/type/anyOf") || $0.instancePath == "/type" }
        }
        #expect(throws: SchemaError.invalidPattern("([a-z]", at: "wfd:/schema.json")) {
            try schema(##"{"pattern": "([a-z]"}"##)
        }
    }

    @Test func aSchemaThatRefersToItselfForeverIsReportedNotFollowed() throws {
        let loop = try schema(
            ##"{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}"##)
        let violations = loop.validate(.number(1))
        #expect(violations.count == 1)
        #expect(violations.first?.message.contains("refers to itself") == true)
    }

    @Test func deeplyNestedValuesAreRefusedNotOverflowingTheStack() throws {
        let tree = try schema(
            ##"{"$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "$ref": "#/$defs/node"}"##)
        var deep = JSONValue.array([])
        for _ in 0..<1000 { deep = .array([deep]) }
        let violations = tree.validate(deep)
        #expect(violations.map(\.message) == ["is nested too deeply to be checked"])
        var shallow = JSONValue.array([])
        for _ in 0..<50 { shallow = .array([shallow]) }
        #expect(tree.accepts(shallow))
    }
}
