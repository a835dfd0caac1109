import Foundation
import JobFormat
import Testing
import WorkflowEngine
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct JobFileReaderTests {
    let valid = "steps: [{id: a, run: 'true'}]\n"

    func refusal(_ path: String, reader: JobFileReader = JobFileReader()) -> Diagnostic? {
        do {
            _ = try reader.read(path)
            return nil
        } catch {
            return error.diagnostics.first
        }
    }

    @Test func readsAPrivateRegularFile() throws {
        let dir = try TemporaryDirectory("reader")
        try dir.write("ok.yaml", valid)
        chmod(dir.file("ok.yaml"), 0o640)
        #expect(try JobFileReader().read(dir.file("ok.yaml")) == valid)
    }

    @Test func refusesFilesOthersCouldChange() throws {
        let dir = try TemporaryDirectory("reader")
        try dir.write("group.yaml", valid)
        chmod(dir.file("group.yaml"), 0o664)
        #expect(refusal(dir.file("group.yaml"))?.hint == "run: chmod go-w \(dir.file("group.yaml"))")
        try dir.write("other.yaml", valid)
        chmod(dir.file("other.yaml"), 0o646)
        #expect(refusal(dir.file("other.yaml"))?.message.contains("writable by group or others") == true)
    }

    @Test func refusesFilesOfOtherOwners() throws {
        let dir = try TemporaryDirectory("reader")
        try dir.write("theirs.yaml", valid)
        // Another owner: as root, give the file away; otherwise accept only an owner we are not.
        let reader: JobFileReader
        if geteuid() == 0 {
            chown(dir.file("theirs.yaml"), 65534, 65534)
            reader = JobFileReader()
        } else {
            reader = JobFileReader(allowedOwners: [0])
        }
        let problem = refusal(dir.file("theirs.yaml"), reader: reader)
        #expect(problem?.message.contains("not by root or wfd's user") == true)
        #expect(problem?.hint == "run: chown root \(dir.file("theirs.yaml"))")
    }

    @Test func refusesWhatIsNotARegularFile() throws {
        let dir = try TemporaryDirectory("reader")
        mkfifo(dir.file("pipe.yaml"), 0o600)
        #expect(refusal(dir.file("pipe.yaml"))?.message == "not a regular file")
        mkdir(dir.file("dir.yaml"), 0o700)
        #expect(refusal(dir.file("dir.yaml"))?.message == "not a regular file")
    }

    @Test func refusesHugeAndNonUTF8Files() throws {
        let dir = try TemporaryDirectory("reader")
        let big = String(repeating: "# padding\n", count: 110_000)
        try dir.write("big.yaml", big)
        #expect(refusal(dir.file("big.yaml"))?.message.contains("more than the 1 MiB limit") == true)
        _ = FileManager.default.createFile(atPath: dir.file("latin1.yaml"), contents: Data([0x23, 0xE9, 0x0A]))
        chmod(dir.file("latin1.yaml"), 0o644)
        #expect(refusal(dir.file("latin1.yaml"))?.message == "the job file is not UTF-8 text")
    }

    /// A billion laughs: nine levels of nine aliases each. Refused after counting a bounded number
    /// of nodes, never expanded.
    @Test func aYAMLAliasBombIsRefused() throws {
        var text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
            previous = name
        }
        text += "steps: *i\n"
        #expect {
            try JobParser().parse(text, path: "/j/bomb.yaml")
        } throws: { error in
            (error as? JobFileError)?.diagnostics.first?.message == "the file expands to more than 200000 YAML nodes"
        }
    }
}
