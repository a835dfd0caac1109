import Foundation

/// Reads a job's secrets from `$CREDENTIALS_DIRECTORY/<name>` (systemd's `LoadCredential=`; in
/// development, any directory the variable names).
public struct SecretStore: Sendable {
    /// The credentials directory, nil when wfd has none.
    public let directory: String?

    public init(directory: String?) { self.directory = directory }

    /// The largest secret read (an API key or token is far smaller).
    static let maximumSize = 64 * 1024

    /// The values of `names`, and for each one that cannot be had, why (with what to do).
    ///
    /// One trailing newline is dropped: `echo KEY > file` is how most people make the file.
    public func load(_ names: [String]) -> (values: [String: String], missing: [String: String]) {
        var values: [String: String] = [:]
        var missing: [String: String] = [:]
        for name in names {
            guard let directory, !directory.isEmpty else {
                missing[name] =
                    "secret '\(name)' is not available: wfd has no credentials directory "
                    + "(under systemd: LoadCredential=\(name):/path/to/file; in development: CREDENTIALS_DIRECTORY=DIR)"
                continue
            }
            let path = "\(directory)/\(name)"
            guard let data = FileManager.default.contents(atPath: path) else {
                missing[name] =
                    "secret '\(name)' is not available: cannot read \(path) "
                    + "(add LoadCredential=\(name):/path/to/file to the unit)"
                continue
            }
            guard data.count <= Self.maximumSize, var text = String(data: data, encoding: .utf8) else {
                missing[name] = "secret '\(name)' in \(path) is not UTF-8 text of at most 64 KiB"
                continue
            }
            if text.hasSuffix("\r\n") {
                text.removeLast(2)
            } else if text.hasSuffix("\n") {
                text.removeLast()
            }
            values[name] = text
        }
        return (values, missing)
    }
}

/// Replaces the values of a run's secrets with `[secret]` in everything wfd keeps or logs of
/// its steps: output, log files, journal lines, errors.
public struct Redactor: Sendable {
    /// The values, longest first (so a value that contains another is replaced whole).
    let values: [[UInt8]]
    public static let marker = Array("[secret]".utf8)

    /// Values shorter than this are not replaced: three letters would mangle ordinary output.
    public static let minimumLength = 4

    public init(secrets: [String: String]) {
        values = Set(secrets.values.map { Array($0.utf8) }).filter { $0.count >= Self.minimumLength }
            .sorted { $0.count > $1.count }
    }

    public static let none = Redactor(secrets: [:])

    public var isEmpty: Bool { values.isEmpty }

    /// The longest value, in bytes: how much of a stream's end to hold back, since a secret may
    /// be cut between two reads.
    var longest: Int { values.first?.count ?? 0 }

    public func redact(_ text: String) -> String {
        guard !isEmpty else { return text }
        return String(decoding: redact(Array(text.utf8)), as: UTF8.self)
    }

    public func redact(_ bytes: [UInt8]) -> [UInt8] {
        guard !isEmpty else { return bytes }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        scanning: while index < bytes.count {
            for value in values where bytes[index] == value[0] && index + value.count <= bytes.count {
                if bytes[index..<(index + value.count)].elementsEqual(value) {
                    output += Self.marker
                    index += value.count
                    continue scanning
                }
            }
            output.append(bytes[index])
            index += 1
        }
        return output
    }
}
