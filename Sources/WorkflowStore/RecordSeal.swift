import CLinux
import Foundation

/// The sequence number and checksum every record ends with, inside its JSON object:
///
/// ```
/// {
///   ...the record's own keys, sorted...,
///   "seq" : 7,
///   "checksum" : "crc32c:1a2b3c4d"
/// }
/// ```
///
/// `seq` counts the writes of that file (1 for the first). The checksum is CRC-32C of every byte
/// before `,\n  "checksum"`, so a reader checks the bytes as written, without re-encoding, and
/// the file stays plain JSON for `jq` and for decoders (which ignore both keys).
public enum RecordSeal {
    static let checksumMarker = Data(",\n  \"checksum\" : \"crc32c:".utf8)

    /// `json` (a pretty-printed object) with `seq` and its checksum added.
    static func seal(_ json: Data, seq: Int) -> Data? {
        var body = json
        while let last = body.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") { body.removeLast() }
        guard body.last == UInt8(ascii: "}") else { return nil }
        body.removeLast()
        while let last = body.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") { body.removeLast() }
        let empty = body.last == UInt8(ascii: "{")
        body += Data("\(empty ? "\n" : ",\n")  \"seq\" : \(seq)".utf8)
        let sum = String(crc32c(body), radix: 16)
        return body + checksumMarker + Data((String(repeating: "0", count: 8 - sum.count) + sum + "\"\n}\n").utf8)
    }

    /// What is wrong with the seal of `data`, or nil when its checksum matches.
    public static func problem(in data: Data) -> String? {
        guard let range = lastRange(of: checksumMarker, in: data) else {
            return "it has no checksum (not written by wfd, or cut short)"
        }
        let digits = data[range.upperBound...].prefix(8)
        guard digits.count == 8, let stored = UInt32(String(decoding: digits, as: UTF8.self), radix: 16) else {
            return "its checksum is unreadable"
        }
        let actual = crc32c(data[..<range.lowerBound])
        guard actual == stored else {
            return
                "its checksum does not match its content (stored \(String(stored, radix: 16)), computed \(String(actual, radix: 16)))"
        }
        let tail = String(decoding: data[(range.upperBound + 8)...], as: UTF8.self)
        guard tail == "\"\n}\n" || tail == "\"\n}" else { return "something follows its checksum" }
        return nil
    }

    /// The `seq` of a sealed record, or nil.
    public static func seq(of data: Data) -> Int? {
        guard let marker = lastRange(of: checksumMarker, in: data),
            let key = data[..<marker.lowerBound].range(of: Data("\"seq\" : ".utf8), options: .backwards)
        else { return nil }
        return Int(String(decoding: data[key.upperBound..<marker.lowerBound], as: UTF8.self))
    }

    /// Where `marker` last occurs in `data`: a scan from the end, where the seal is, so a record
    /// costs a few comparisons, not a search through its whole content.
    static func lastRange(of marker: Data, in data: Data) -> Range<Data.Index>? {
        guard data.count >= marker.count else { return nil }
        let found: Int? = data.withUnsafeBytes { bytes in
            marker.withUnsafeBytes { needle in
                guard let base = bytes.baseAddress, let first = needle.baseAddress else { return nil }
                var offset = bytes.count - needle.count
                while offset >= 0 {
                    if memcmp(base + offset, first, needle.count) == 0 { return offset }
                    offset -= 1
                }
                return nil
            }
        }
        return found.map { (data.startIndex + $0)..<(data.startIndex + $0 + marker.count) }
    }

    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }

    /// CRC-32C (Castagnoli) of `data`, through its bytes in memory (several times faster than
    /// through a sequence).
    public static func crc32c(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { bytes in
            if hardwareCRC, let base = bytes.baseAddress {
                return ~wfd_crc32c(0xFFFF_FFFF, base.assumingMemoryBound(to: UInt8.self), bytes.count)
            }
            return table.withUnsafeBufferPointer { table in
                var crc: UInt32 = 0xFFFF_FFFF
                for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
                return ~crc
            }
        }
    }

    /// Whether ``crc32c(_:)-(Data)`` uses the CPU's CRC-32C instruction (x86-64 with SSE 4.2).
    public static let hardwareCRC = wfd_crc32c_hardware() != 0

    /// CRC-32C (Castagnoli), as iSCSI and ext4 use it, a byte at a time (the reference the fast
    /// path is tested against).
    public static func crc32c<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }
}
