import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

@testable import WebAPI

/// A running attempt's log followed as Server-Sent Events: lines as they are written, a
/// heartbeat while it is quiet, resuming from Last-Event-ID, and the end when the attempt ends.
@Suite struct LogFollowTests {
    /// Reads events from `iterator` until one contains `text` (or 10 s pass).
    func read(
        _ iterator: inout AsyncStream<Data>.AsyncIterator, until text: String
    ) async -> String {
        var seen = ""
        let deadline = ContinuousClock.now + .seconds(10) * testTimeoutScale
        while !seen.contains(text), ContinuousClock.now < deadline, let chunk = await iterator.next() {
            seen += String(decoding: chunk, as: UTF8.self)
        }
        return seen
    }

    /// The seeded failed run, with its step `load` as if its attempt were still running; the step
    /// record and its first attempt as it ended are returned to end it with.
    func runningAttempt(_ dir: TemporaryDirectory) throws -> (StateDirectory, RunID, StepRecord, Attempt) {
        let (state, run) = try WebAPITests().seed(dir)
        let store = RunStore(directory: state)
        var load = try store.loadStep(JobID("nightly")!, run, StepID("load")!)
        let ended = load.attempts[0]
        load.attempts[0].endedAt = nil
        load.attempts[0].outcome = nil
        try store.save(load)
        return (state, run, load, ended)
    }

    @Test func aRunningAttemptsLogIsFollowedLiveResumedAndEnded() async throws {
        let dir = try TemporaryDirectory("follow")
        var (state, run, load, ended) = try runningAttempt(dir)
        let store = RunStore(directory: state)
        let job = JobID("nightly")!
        let log = state.logsDirectory(job, run) + "/load.1.log"
        try "".write(toFile: log, atomically: true, encoding: .utf8)
        let append = { (text: String) throws in
            let handle = try #require(FileHandle(forWritingAtPath: log))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        }

        let api = WebAPI(state: state, heartbeat: .milliseconds(200))
        let target = "/api/v1/runs/\(run)/steps/load/attempts/1/log/events"
        let response = api.respond(APIRequest(method: "GET", target: target, caller: .root))
        #expect(response.status == 200 && response.contentType == "text/event-stream")
        var events = try #require(response.stream).makeAsyncIterator()
        #expect(await read(&events, until: "retry:").contains("retry: 2000"))
        #expect(await read(&events, until: ": heartbeat").contains(": heartbeat"), "a quiet log gets heartbeats")

        try append("first line\nsecond ")
        let first = await read(&events, until: "first line")
        #expect(first.contains("id: 11\ndata: first line\n\n"), "\(first)")
        #expect(!first.contains("second"), "an unfinished line waits for its end")
        try append("line\r\nthird line\n")
        let more = await read(&events, until: "third line")
        #expect(more.contains("id: 35\ndata: second line\ndata: third line\n\n"), "\(more)")

        // Resuming from the first event's id gives what followed it.
        var resumed = APIRequest(method: "GET", target: target, caller: .root)
        resumed.headers["last-event-id"] = "11"
        var again = try #require(api.respond(resumed).stream).makeAsyncIterator()
        let replay = await read(&again, until: "third line")
        #expect(replay.contains("data: second line\ndata: third line"), "\(replay)")
        #expect(!replay.contains("first line"))

        // The attempt ends (after a last line without its newline): the rest, then `end`.
        try append("last words")
        load.attempts[0] = ended
        try store.save(load)
        let end = await read(&events, until: "event: end")
        #expect(end.contains("data: last words\n"), "\(end)")
        #expect(end.contains("event: end\nid: 45\ndata: {\"outcome\":\"failed\",\"exit_code\":2}\n\n"), "\(end)")
        #expect(await events.next() == nil, "the stream closes")

        var bad = APIRequest(method: "GET", target: target, caller: .root)
        bad.headers["last-event-id"] = "-3"
        #expect(api.respond(bad).status == 400)
        #expect(
            api.respond(
                APIRequest(method: "GET", target: "/api/v1/runs/\(run)/steps/load/attempts/0/log", caller: .root)
            ).status
                == 400)
        #expect(
            api.respond(
                APIRequest(method: "GET", target: "/api/v1/runs/\(run)/steps/nope/attempts/1/log", caller: .root)
            ).status
                == 404)
    }

    /// Followers of one log share its one reader: each gets exactly the lines after the offset
    /// it came with (behind the reader, at it, ahead of it, mid-line), one leaving does not stop
    /// the others, the last leaving stops the reader, and one coming after the end gets it all.
    @Test func followersAtTheirOwnOffsetsShareOneReader() async throws {
        let dir = try TemporaryDirectory("follow")
        var (state, run, load, ended) = try runningAttempt(dir)
        let store = RunStore(directory: state)
        let log = state.logsDirectory(JobID("nightly")!, run) + "/load.1.log"
        let handle = try #require(
            FileHandle(forWritingAtPath: log)
                ?? {
                    FileManager.default.createFile(atPath: log, contents: nil)
                    return FileHandle(forWritingAtPath: log)
                }())
        try handle.truncate(atOffset: 0)
        let append = { (text: String) throws in try handle.write(contentsOf: Data(text.utf8)) }
        try append("one\ntwo\n")  // "two" starts at byte 4; the file is 8 bytes long

        let api = WebAPI(state: state, heartbeat: .seconds(20))
        let target = "/api/v1/runs/\(run)/steps/load/attempts/1/log/events"
        func follow(from offset: Int) throws -> AsyncStream<Data>.AsyncIterator {
            var request = APIRequest(method: "GET", target: target, caller: .root)
            request.headers["last-event-id"] = String(offset)
            return try #require(api.respond(request).stream).makeAsyncIterator()
        }
        /// The `data:` lines a stream had until `text`, in order.
        func lines(_ iterator: inout AsyncStream<Data>.AsyncIterator, until text: String) async -> [String] {
            await read(&iterator, until: text).split(separator: "\n").filter { $0.hasPrefix("data: ") }
                .map { String($0.dropFirst(6)) }
        }

        var first = try follow(from: 4)  // starts the reader at "two"
        #expect(await lines(&first, until: "two") == ["two"])
        var behind = try follow(from: 0)
        var ahead = try follow(from: 19)  // past the end, where "five" will start (after "three\nfour\n")
        var midLine = try follow(from: 5)  // inside "two"
        #expect(LogBroadcast.followers(of: log) == 4, "four followers, one reader")
        try append("three\nfour\nfive\n")
        #expect(await lines(&first, until: "five") == ["three", "four", "five"])
        #expect(await lines(&behind, until: "five") == ["one", "two", "three", "four", "five"])
        #expect(await lines(&ahead, until: "five") == ["five"])
        #expect(await lines(&midLine, until: "five") == ["wo", "three", "four", "five"])

        // One client goes away; the others still get each line.
        midLine = AsyncStream<Data> { $0.finish() }.makeAsyncIterator()
        try append("six\n")
        #expect(await lines(&first, until: "six") == ["six"])
        #expect(await lines(&behind, until: "six") == ["six"])

        // The attempt ends: every follower gets the last words and the end, at the same id.
        try append("last")
        load.attempts[0] = ended
        try store.save(load)
        for var iterator in [first, behind, ahead] {
            let end = await read(&iterator, until: "event: end")
            #expect(end.contains("id: 32\ndata: last\n\nevent: end\nid: 32\n"), "\(end)")
            #expect(await iterator.next() == nil)
        }
        #expect(LogBroadcast.followers(of: log) == nil, "an ended log is not read any more")

        // A follower after the end gets the whole log and the end from a reader of its own.
        var late = try follow(from: 0)
        #expect(
            await lines(&late, until: "event: end") == ["one", "two", "three", "four", "five", "six", "last"] + [
                #"{"outcome":"failed","exit_code":2}"#
            ])
        #expect(await late.next() == nil)

        // A log followed and left: its reader stops.
        load.attempts[0].endedAt = nil
        try store.save(load)
        do {
            var left = try follow(from: 0)
            _ = await read(&left, until: "six")
            #expect(LogBroadcast.followers(of: log) == 1)
        }
        let deadline = ContinuousClock.now + .seconds(5) * testTimeoutScale
        while LogBroadcast.followers(of: log) != nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(LogBroadcast.followers(of: log) == nil, "nobody follows it")
    }

    /// A follower that connects before the attempt's `logs/` folder exists still gets each line as
    /// it is written (the bench caught lines held back until the step's end: nothing watched it).
    @Test func aLogFollowedBeforeItsFolderExistsIsStillLive() async throws {
        let dir = try TemporaryDirectory("follow")
        let (state, run, _, _) = try runningAttempt(dir)
        let job = JobID("nightly")!
        try FileManager.default.removeItem(atPath: state.logsDirectory(job, run))

        // Heartbeats far apart: only a watched change can wake the follower in time.
        let api = WebAPI(state: state, heartbeat: .seconds(20))
        let response = api.respond(
            APIRequest(method: "GET", target: "/api/v1/runs/\(run)/steps/load/attempts/1/log/events", caller: .root))
        var events = try #require(response.stream).makeAsyncIterator()
        #expect(await read(&events, until: "retry:").contains("retry: 2000"))
        try await Task.sleep(for: .milliseconds(100))
        try FileManager.default.createDirectory(
            atPath: state.logsDirectory(job, run), withIntermediateDirectories: true)
        try await Task.sleep(for: .milliseconds(300))  // the folder's creation wakes it, with nothing to read
        try "written later\n".write(
            toFile: state.logsDirectory(job, run) + "/load.1.log", atomically: false, encoding: .utf8)
        let started = ContinuousClock.now
        let seen = await read(&events, until: "written later")
        #expect(seen.contains("data: written later\n"), "\(seen)")
        #expect(ContinuousClock.now - started < .seconds(5) * testTimeoutScale)
    }
}
