import CSystemd
import Foundation
import WorkflowEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Writing and reading the D-Bus messages wfd exchanges with systemd, with sd-bus's non-variadic
/// calls (Swift cannot call `sd_bus_message_append` and `sd_bus_message_read`): unit properties
/// by their wire type, and `a{sv}` property dictionaries.
enum BusMessage {

    /// The values wfd reads from properties; anything else is skipped.
    enum Value {
        case string(String)
        case bool(Bool)
        case int32(Int32)
        case uint32(UInt32)
        case uint64(UInt64)
        case bytes([UInt8])
        case job(UInt32)
        case other

        var string: String? { if case .string(let value) = self { value } else { nil } }
        var int32: Int32? { if case .int32(let value) = self { value } else { nil } }
        var uint32: UInt32? { if case .uint32(let value) = self { value } else { nil } }
        var hex: String? {
            guard case .bytes(let bytes) = self else { return nil }
            return bytes.map { String(format: "%02x", $0) }.joined()
        }
    }

    static func type(_ character: Character) -> CChar { CChar(bitPattern: character.asciiValue ?? 0) }

    static func text(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }

    static func errnoError(_ what: String, _ code: Int32) -> UnitError {
        UnitError(name: "", message: "\(what): \(String(cString: strerror(-code)))")
    }

    static func check(_ code: Int32) throws(UnitError) {
        guard code >= 0 else { throw errnoError("D-Bus message", code) }
    }

    /// Enters the next container of `type`, or returns false at the end of the enclosing array.
    static func enter(_ message: OpaquePointer, _ type: Character, _ contents: String) throws(UnitError) -> Bool {
        let code = sd_bus_message_enter_container(message, Self.type(type), contents)
        try check(code)
        return code > 0
    }

    static func readString(_ message: OpaquePointer, type: Character = "s") throws(UnitError) -> String {
        var value: UnsafePointer<CChar>?
        try check(sd_bus_message_read_basic(message, Self.type(type), &value))
        return text(value)
    }

    /// Reads an `a{sv}`.
    static func readDictionary(_ message: OpaquePointer) throws(UnitError) -> [String: Value] {
        var values: [String: Value] = [:]
        try check(sd_bus_message_enter_container(message, type("a"), "{sv}"))
        while try enter(message, "e", "sv") {
            let key = try readString(message)
            var kind: CChar = 0
            var contents: UnsafePointer<CChar>?
            try check(sd_bus_message_peek_type(message, &kind, &contents))
            let signature = text(contents)
            try check(sd_bus_message_enter_container(message, type("v"), signature))
            values[key] = try readValue(message, signature: signature)
            try check(sd_bus_message_exit_container(message))
            try check(sd_bus_message_exit_container(message))
        }
        try check(sd_bus_message_exit_container(message))
        return values
    }

    static func readValue(_ message: OpaquePointer, signature: String) throws(UnitError) -> Value {
        switch signature {
        case "s", "o": return .string(try readString(message, type: Character(signature)))
        case "b":
            var value: Int32 = 0
            try check(sd_bus_message_read_basic(message, type("b"), &value))
            return .bool(value != 0)
        case "i":
            var value: Int32 = 0
            try check(sd_bus_message_read_basic(message, type("i"), &value))
            return .int32(value)
        case "u":
            var value: UInt32 = 0
            try check(sd_bus_message_read_basic(message, type("u"), &value))
            return .uint32(value)
        case "t":
            var value: UInt64 = 0
            try check(sd_bus_message_read_basic(message, type("t"), &value))
            return .uint64(value)
        case "ay":
            var pointer: UnsafeRawPointer?
            var size = 0
            try check(sd_bus_message_read_array(message, type("y"), &pointer, &size))
            guard let pointer else { return .bytes([]) }
            return .bytes(Array(UnsafeRawBufferPointer(start: pointer, count: size)))
        case "(uo)":
            try check(sd_bus_message_enter_container(message, type("r"), "uo"))
            var id: UInt32 = 0
            try check(sd_bus_message_read_basic(message, type("u"), &id))
            _ = try readString(message, type: "o")
            try check(sd_bus_message_exit_container(message))
            return .job(id)
        default:
            try check(sd_bus_message_skip(message, signature))
            return .other
        }
    }

    static func appendStrings(_ strings: [String], to message: OpaquePointer) throws(UnitError) {
        try check(sd_bus_message_open_container(message, type("a"), "s"))
        for string in strings { try check(sd_bus_message_append_basic(message, type("s"), string)) }
        try check(sd_bus_message_close_container(message))
    }

    /// Appends one `(sv)` entry of a property list.
    static func append(_ property: UnitProperty, to message: OpaquePointer) throws(UnitError) {
        let signature: String =
            switch property.value {
            case .string: "s"
            case .bool: "b"
            case .uint64: "t"
            case .int32: "i"
            case .strings: "as"
            case .byteArrays: "aay"
            case .pairs: "a(ss)"
            case .command: "a(sasas)"
            }
        try check(sd_bus_message_open_container(message, type("r"), "sv"))
        try check(sd_bus_message_append_basic(message, type("s"), property.name))
        try check(sd_bus_message_open_container(message, type("v"), signature))
        switch property.value {
        case .string(let value): try check(sd_bus_message_append_basic(message, type("s"), value))
        case .bool(let value):
            var number: Int32 = value ? 1 : 0
            try check(sd_bus_message_append_basic(message, type("b"), &number))
        case .uint64(let value):
            var number = value
            try check(sd_bus_message_append_basic(message, type("t"), &number))
        case .int32(let value):
            var number = value
            try check(sd_bus_message_append_basic(message, type("i"), &number))
        case .strings(let values): try appendStrings(values, to: message)
        case .byteArrays(let arrays):
            try check(sd_bus_message_open_container(message, type("a"), "ay"))
            for bytes in arrays {
                let code = bytes.withUnsafeBytes { buffer in
                    sd_bus_message_append_array(message, type("y"), buffer.baseAddress, buffer.count)
                }
                try check(code)
            }
            try check(sd_bus_message_close_container(message))
        case .pairs(let pairs):
            try check(sd_bus_message_open_container(message, type("a"), "(ss)"))
            for pair in pairs {
                try check(sd_bus_message_open_container(message, type("r"), "ss"))
                try check(sd_bus_message_append_basic(message, type("s"), pair.first))
                try check(sd_bus_message_append_basic(message, type("s"), pair.second))
                try check(sd_bus_message_close_container(message))
            }
            try check(sd_bus_message_close_container(message))
        case .command(let path, let arguments, let flags):
            try check(sd_bus_message_open_container(message, type("a"), "(sasas)"))
            try check(sd_bus_message_open_container(message, type("r"), "sasas"))
            try check(sd_bus_message_append_basic(message, type("s"), path))
            try appendStrings(arguments, to: message)
            try appendStrings(flags, to: message)
            try check(sd_bus_message_close_container(message))
            try check(sd_bus_message_close_container(message))
        }
        try check(sd_bus_message_close_container(message))
        try check(sd_bus_message_close_container(message))
    }
}
