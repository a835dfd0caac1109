import Foundation
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

@Suite struct RecordSealTests {
    @Test func recordsCarryACountingSequenceNumberAndAChecksumAndStayPlainJSON() throws {
        let dir = try TemporaryDirectory("seal")
        let path = dir.file("latest.json")
        var latest = LatestRuns(job: JobID("demo")!)
        try RecordFile.write(latest, to: path)
        latest.version = 2
        try RecordFile.write(latest, to: path)
        let data = try RecordFile.readData(path)
        #expect(RecordSeal.seq(of: data) == 2)
        #expect(RecordSeal.problem(in: data) == nil)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["seq"] as? Int == 2)
        #expect((object["checksum"] as? String)?.hasPrefix("crc32c:") == true)
        #expect(try RecordFile.read(LatestRuns.self, from: path).version == 2)
    }

    @Test func anyChangedByteOrACutFailsTheCheck() throws {
        let dir = try TemporaryDirectory("seal")
        let path = dir.file("run.json")
        try RecordFile.write(LatestRuns(job: JobID("demo")!), to: path)
        let good = try RecordFile.readData(path)
        for index in stride(from: 0, to: good.count, by: 3) {
            var bad = good
            bad[index] ^= 0x01
            #expect(RecordSeal.problem(in: bad) != nil, "a flipped bit at \(index) is noticed")
        }
        for length in [0, 10, good.count / 2, good.count - 3] {
            #expect(RecordSeal.problem(in: good.prefix(length)) != nil, "cut at \(length)")
        }
        var edited = good
        edited.replaceSubrange(edited.range(of: Data("demo".utf8))!, with: Data("deme".utf8))
        try RecordFile.write(edited, to: path)  // a hand edit that keeps the JSON valid
        #expect {
            try RecordFile.read(LatestRuns.self, from: path)
        } throws: { error in
            (error as? StoreError).map { "\($0)".contains("checksum does not match") } ?? false
        }
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(RecordSeal.crc32c(Array("123456789".utf8)) == 0xE306_9283)
        #expect(RecordSeal.crc32c(Data("123456789".utf8)) == 0xE306_9283)
        var generator = SystemRandomNumberGenerator()
        #if arch(x86_64)
            #expect(RecordSeal.hardwareCRC, "every x86-64 CPU since 2008 has SSE 4.2: the instruction path is tested")
        #endif
        // Every tail length of the 8-byte loop, and long ones.
        for length in Array(0...17) + [63, 64, 65, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(
                RecordSeal.crc32c(Data(bytes)) == RecordSeal.crc32c(bytes), "the fast path agrees (\(length) bytes)")
            let slice = Data([1, 2, 3] + bytes)[3...]  // a slice that does not start at index 0
            #expect(RecordSeal.crc32c(slice) == RecordSeal.crc32c(bytes))
        }
    }

    @Test func aRecordInsideALargerBufferChecksTheSame() throws {
        let dir = try TemporaryDirectory("seal")
        let path = dir.file("latest.json")
        try RecordFile.write(LatestRuns(job: JobID("demo")!), to: path)
        let record = try RecordFile.readData(path)
        let slice = (Data("noise".utf8) + record)[5...]
        #expect(RecordSeal.problem(in: slice) == nil)
        #expect(RecordSeal.seq(of: slice) == 1)
    }

    @Test func quarantineMovesTheRecordAsideUnderATimestampedName() throws {
        let dir = try TemporaryDirectory("seal")
        let path = dir.file("schedule.json")
        try RecordFile.write(Data("{ torn".utf8), to: path)
        let moved = try RecordFile.quarantine(path, at: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(moved == path + ".corrupt-2027-01-15T080000.000Z")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try String(contentsOfFile: moved, encoding: .utf8) == "{ torn")
    }
}
