import Foundation

/// `state/format.json`: which layout the state directory is in, so that a newer wfd upgrades an
/// older directory in place and an older wfd refuses a newer one instead of misreading it.
///
/// Format 1 is the layout every wfd wrote before the file existed: a directory without it (and
/// with anything in it) is format 1. An upgrade runs the migrations from the directory's format
/// to this wfd's one after another; each migration must be safe to run again (a wfd killed
/// midway starts it over), and the format it reached is written durably after each, so an
/// upgrade killed at any moment resumes where it stood.
public struct StateFormat: Sendable, Codable, Equatable {
    /// The format this wfd reads and writes.
    public static let current = 2

    public var format: Int
    /// The wfd that last wrote the file (`wfd --version`'s first line), for the refusal message.
    public var writtenBy: String

    public init(format: Int, writtenBy: String) {
        self.format = format
        self.writtenBy = writtenBy
    }

    enum CodingKeys: String, CodingKey {
        case format
        case writtenBy = "written_by"
    }

    /// One step of an upgrade: makes a directory of format `from` one of format `from + 1`.
    public struct Migration: Sendable {
        public let from: Int
        public let what: String
        public let apply: @Sendable (StateDirectory) throws -> Void

        public init(from: Int, what: String, apply: @escaping @Sendable (StateDirectory) throws -> Void) {
            self.from = from
            self.what = what
            self.apply = apply
        }
    }

    /// The migrations up to ``current``, oldest first.
    public static let migrations: [Migration] = [
        Migration(from: 1, what: "runs.jsonl: every job's ended runs in one index, for listings across jobs") {
            try RunHistory(directory: $0).rebuild()
        }
    ]

    /// Why a state directory cannot be used as it is.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// Written by a newer wfd: this one would misread it.
        case newer(path: String, format: Int, writtenBy: String, supported: Int)
        /// `format.json` is damaged.
        case unreadable(path: String, reason: String)
        /// A migration failed (the directory stays at `format`, and the next start tries again).
        case migrationFailed(path: String, format: Int, what: String, reason: String)

        public var description: String {
            switch self {
            case .newer(let path, let format, let writtenBy, let supported):
                "\(path) says the state directory is in format \(format), written by \(writtenBy); this wfd reads "
                    + "formats up to \(supported) and will not misread it: run that wfd (or a newer one), "
                    + "or give this one a state directory of its own (--state)"
            case .unreadable(let path, let reason):
                "\(path) cannot be read (\(reason)): if the directory is wfd's, write "
                    + #"{"format": 1, "written_by": "by hand"} into it (format 1 is every layout before the file "#
                    + "existed) and start wfd again"
            case .migrationFailed(let path, let format, let what, let reason):
                "upgrading the state directory failed at format \(format) (\(what)): \(reason); nothing was lost "
                    + "and the next start tries again (\(path))"
            }
        }
    }

    /// Checks `directory` and brings it to `current` with `migrations` (the real ones unless a
    /// test gives others). Returns the formats it went through (empty when already current).
    /// `writtenBy`: this wfd, as recorded in the file.
    @discardableResult
    public static func prepare(
        _ directory: StateDirectory, writtenBy: String, current: Int = current, migrations: [Migration] = migrations
    ) throws(Refusal) -> [Int] {
        let path = directory.formatFile
        var format: Int
        do {
            format = try read(path).format
        } catch .missing {
            // No file: a new directory (the current format), or one from before the file existed
            // (format 1): the second has jobs or runs in it.
            let fresh = [directory.jobsRoot, directory.runsRoot].allSatisfy {
                ((try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? []).isEmpty
            }
            format = fresh ? current : 1
            try write(format, to: directory, writtenBy: writtenBy)
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        if format > current {
            let stored = (try? read(path))?.writtenBy ?? "an unknown wfd"
            throw .newer(path: path, format: format, writtenBy: stored, supported: current)
        }
        var passed: [Int] = []
        while format < current {
            guard let migration = migrations.first(where: { $0.from == format }) else {
                throw .migrationFailed(
                    path: path, format: format, what: "no migration",
                    reason: "this wfd has no way from format \(format)")
            }
            do {
                try migration.apply(directory)
            } catch {
                throw .migrationFailed(path: path, format: format, what: migration.what, reason: "\(error)")
            }
            format += 1
            try write(format, to: directory, writtenBy: writtenBy)
            passed.append(format)
        }
        return passed
    }

    /// The file as wfd wrote it (sealed, and then its checksum must hold) or as a person did
    /// (plain JSON: the fix the refusal of a damaged file suggests).
    public static func read(_ path: String) throws(StoreError) -> StateFormat {
        let data = try RecordFile.readData(path)
        if RecordSeal.seq(of: data) != nil, let problem = RecordSeal.problem(in: data) {
            throw .corrupt(path: path, reason: problem)
        }
        do {
            return try JSONDecoder().decode(StateFormat.self, from: data)
        } catch {
            throw .corrupt(path: path, reason: "not a format record: \(error)")
        }
    }

    private static func write(_ format: Int, to directory: StateDirectory, writtenBy: String) throws(Refusal) {
        do {
            try RecordFile.write(StateFormat(format: format, writtenBy: writtenBy), to: directory.formatFile)
        } catch {
            throw .migrationFailed(
                path: directory.formatFile, format: format - 1, what: "recording format \(format)",
                reason: "\(error)")
        }
    }
}
