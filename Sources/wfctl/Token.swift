import ArgumentParser
import Foundation
import RunModel
import Schedules
import WorkflowStore

/// `wfctl token`: the bearer tokens of wfd-web's API over TCP.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage the bearer tokens wfd-web's HTTP API asks for over TCP.",
        discussion: """
            A token has a name (what records name as who did something: "token deploy-bot via \
            wfd-web") and scopes: read (everything GET), operate (start, retry, cancel runs; \
            reload), approve (approve and reject waiting steps). Only its SHA-256 digest is kept, \
            in --file (default /etc/wfd/tokens.json, group wfd, mode 0640): the token itself is \
            printed once, by add. wfd-web sees changes at its next request.

            Examples:
              wfctl token add deploy-bot --scope read,operate
              wfctl token list --json
              wfctl token revoke deploy-bot
            """,
        subcommands: [Add.self, List.self, Revoke.self])

    struct FileOptions: ParsableArguments {
        @Option(help: ArgumentHelp("The token file.", valueName: "path"))
        var file: String = AccessTokens.defaultPath

        @Option(help: ArgumentHelp("The group the file belongs to (wfd-web reads it as a member).", valueName: "group"))
        var group: String = "wfd"

        func load() throws -> AccessTokens {
            do {
                return try AccessTokens.load(file)
            } catch .system(_, _, let code) where code == EACCES {
                throw CommandFailure(description: "permission denied reading \(file): run as root", code: .noPermission)
            } catch {
                throw CommandFailure(description: "\(file) cannot be read: \(error)", code: .failed)
            }
        }

        /// Writes `tokens` durably, 0640, in `group` when it exists.
        func save(_ tokens: AccessTokens) throws {
            do {
                try RecordFile.write(try Timestamp.makeEncoder().encode(tokens) + Data("\n".utf8), to: file)
            } catch let error as StoreError {
                if case .system(_, _, let code) = error, code == EACCES {
                    throw CommandFailure(
                        description: "permission denied writing \(file): run as root", code: .noPermission)
                }
                throw CommandFailure(description: "cannot write \(file): \(error)", code: .failed)
            }
            if let entry = getgrnam(group) { chown(file, uid_t.max, entry.pointee.gr_gid) }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print it (once: only its digest is kept).")

        @Argument(help: ArgumentHelp("Its name: letters, digits, - and _, at most 64.", valueName: "name"))
        var name: String

        @Option(
            help: ArgumentHelp(
                "What it may do, comma-separated: read, operate, approve.", valueName: "scopes"))
        var scope: String = "read"

        @Flag(help: "Print {\"name\", \"scopes\", \"token\"} as JSON.")
        var json = false

        @OptionGroup var options: FileOptions

        var scopes: [AccessTokens.Scope] {
            scope.split(separator: ",").compactMap {
                AccessTokens.Scope(rawValue: $0.trimmingCharacters(in: .whitespaces))
            }
        }

        func validate() throws {
            guard AccessTokens.isName(name) else {
                throw ValidationError("'\(name)' is not a token name: letters, digits, - and _, at most 64")
            }
            for part in scope.split(separator: ",", omittingEmptySubsequences: false)
            where AccessTokens.Scope(rawValue: part.trimmingCharacters(in: .whitespaces)) == nil {
                throw ValidationError("'\(part)' is not a scope: give read, operate and/or approve, comma-separated")
            }
        }

        func run() throws {
            var tokens = try options.load()
            guard !tokens.tokens.contains(where: { $0.name == name }) else {
                throw CommandFailure(
                    description: "a token named \(name) exists: revoke it first (wfctl token revoke \(name))",
                    code: .failed)
            }
            let secret = AccessTokens.makeSecret()
            let granted = Array(Set(scopes)).sorted()
            tokens.tokens.append(
                .init(name: name, scopes: granted, sha256: SHA256.hex(Array(secret.utf8)), createdAt: Date()))
            try options.save(tokens)
            if json {
                let object = ["name": name, "scopes": granted.map(\.rawValue).joined(separator: ","), "token": secret]
                FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(object) + Data("\n".utf8))
            } else {
                print(secret)
                FileHandle.standardError.write(
                    Data(
                        "token \(name) (\(granted.map(\.rawValue).joined(separator: ", "))): shown once, keep it\n".utf8
                    ))
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens: names, scopes, when made.")

        @Flag(help: "Print [{\"name\", \"scopes\", \"created_at\"}] as JSON.")
        var json = false

        @OptionGroup var options: FileOptions

        struct Entry: Codable {
            var name: String
            var scopes: [AccessTokens.Scope]
            var createdAt: Date
            enum CodingKeys: String, CodingKey {
                case name, scopes
                case createdAt = "created_at"
            }
        }

        func run() throws {
            let tokens = try options.load().tokens
            if json {
                let entries = tokens.map { Entry(name: $0.name, scopes: $0.scopes, createdAt: $0.createdAt) }
                FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(entries) + Data("\n".utf8))
                return
            }
            guard !tokens.isEmpty else {
                print("no tokens: make one with wfctl token add NAME --scope read")
                return
            }
            for token in tokens {
                print(
                    "\(token.name)  \(token.scopes.map(\.rawValue).joined(separator: ","))  \(Timestamp.rfc3339(token.createdAt))"
                )
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a token: wfd-web refuses it from its next request on.")

        @Argument(help: ArgumentHelp("The token's name.", valueName: "name"))
        var name: String

        @OptionGroup var options: FileOptions

        func run() throws {
            var tokens = try options.load()
            guard tokens.tokens.contains(where: { $0.name == name }) else {
                throw CommandFailure(description: "no token named \(name) (see wfctl token list)", code: .failed)
            }
            tokens.tokens.removeAll { $0.name == name }
            try options.save(tokens)
            print("revoked \(name)")
        }
    }
}
