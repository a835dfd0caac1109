import JobFormat
import RunModel

/// The name of an attempt's transient service: `wfd-<job>:<run>:<step>[:<item>]:<attempt>.service`.
///
/// Deterministic, so that the record of an attempt (written before the unit is started) is enough
/// for a later wfd to find it; unique, because run ids are. Job and step ids cannot hold `:`, so
/// the parts cannot run into each other; any character systemd does not allow in a name is
/// written `\xNN` as `systemd-escape` does.
public enum UnitName {
    public static let prefix = "wfd-"
    public static let suffix = ".service"
    /// systemd's limit (UNIT_NAME_MAX 256 with the NUL).
    static let maximumLength = 255

    public static func make(_ key: AttemptKey) -> String {
        var parts = [key.job.rawValue, key.run.rawValue, key.step.rawValue]
        if let item = key.item { parts.append(String(item)) }
        parts.append(String(key.attempt))
        let name = prefix + parts.map(escaped).joined(separator: ":") + suffix
        guard name.utf8.count > maximumLength else { return name }
        // Cannot happen with today's id rules (64 + 27 + 64 + digits); kept unique all the same.
        let digest = SHA256.hex(Array(name.utf8)).prefix(32)
        return prefix + escaped(String(key.job.rawValue.prefix(64))) + ":" + digest + suffix
    }

    static func escaped(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                result.append(Character(UnicodeScalar(byte)))
            default:
                result += "\\x" + String(byte, radix: 16, uppercase: false).leftPadded(to: 2)
            }
        }
        return result
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
