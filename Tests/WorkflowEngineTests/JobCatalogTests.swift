import Foundation
import JobFormat
import Testing
import WorkflowEngine
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct JobCatalogTests {
    func job(_ command: String) -> String { "schedule: '@daily'\nsteps: [{id: a, run: '\(command)'}]\n" }

    /// A catalog that trusts file versions of this very instant to be unchanged while their
    /// signature is (the default waits two seconds; see the last test).
    func settledCatalog(_ dir: TemporaryDirectory) -> JobCatalog {
        var catalog = JobCatalog(directory: dir.path)
        catalog.settleMargin = -60
        return catalog
    }

    @Test func aReloadReadsOnlyTheFilesThatChanged() throws {
        let dir = try TemporaryDirectory("catalog")
        for index in 0..<50 {
            try dir.write("job\(index).yaml", job("echo \(index)"))
        }
        var catalog = settledCatalog(dir)
        #expect(catalog.reload().count == 50)
        #expect(catalog.parsedAtLastLoad == 50)
        #expect(catalog.jobs.count == 50)

        #expect(catalog.reload().isEmpty)
        #expect(catalog.parsedAtLastLoad == 0, "unchanged files are not read again")

        try dir.write("job7.yaml", job("echo seven"))
        try dir.write("new.yaml", job("echo new"))
        try FileManager.default.removeItem(atPath: dir.file("job9.yaml"))
        let changes = catalog.reload()
        #expect(catalog.parsedAtLastLoad == 2)
        #expect(Set(changes) == [.changed(JobID("job7")!), .added(JobID("new")!), .removed(JobID("job9")!)])
        #expect(catalog.entries[JobID("job7")!]?.job?.steps.first?.kind == .run("echo seven"))
    }

    @Test func permissionAndOwnerChangesAreNoticedWithoutAnEdit() throws {
        let dir = try TemporaryDirectory("catalog")
        try dir.write("a.yaml", job("true"))
        chmod(dir.file("a.yaml"), 0o644)
        var catalog = settledCatalog(dir)
        catalog.reload()
        chmod(dir.file("a.yaml"), 0o666)  // changes ctime only
        #expect(catalog.reload() == [.invalid(JobID("a")!, keptPrevious: true)])
        #expect(
            catalog.entries[JobID("a")!]?.diagnostics.first?.message.contains("writable by group or others") == true)
    }

    @Test func anInvalidFileUnchangedIsNotParsedAgainAndKeepsItsDiagnostics() throws {
        let dir = try TemporaryDirectory("catalog")
        try dir.write("bad.yaml", "steps: [{id: a}]\n")
        var catalog = settledCatalog(dir)
        catalog.reload()
        let first = catalog.diagnostics
        #expect(!first.isEmpty)
        #expect(catalog.reload().isEmpty)
        #expect(catalog.parsedAtLastLoad == 0)
        #expect(catalog.diagnostics == first)
    }

    @Test func aFileChangedWithinTheLastSecondsIsReadAgainAtTheNextLoad() throws {
        // File times advance by clock ticks: a second write within the tick of the version read
        // would leave the signature equal, so a version that recent is not trusted unchanged.
        let dir = try TemporaryDirectory("catalog")
        try dir.write("a.yaml", job("echo one"))
        var catalog = JobCatalog(directory: dir.path)
        catalog.reload()
        #expect(catalog.reload().isEmpty)
        #expect(catalog.parsedAtLastLoad == 1, "a version written just now is read again")
        var old = timespec()
        clock_gettime(CLOCK_REALTIME, &old)
        old.tv_sec -= 120
        let times = [old, old]
        utimensat(AT_FDCWD, dir.file("a.yaml"), times, 0)  // an old mtime; the ctime is now
        catalog.settleMargin = 2
        catalog.reload()
        #expect(catalog.parsedAtLastLoad == 1, "the change time counts too (a chmod changes only it)")
    }

    /// The watcher names the files it saw change: only those are looked at, not 10,000 `stat`s.
    @Test func aReloadOfTheFilesTheWatcherNamedLooksAtNoOther() throws {
        let dir = try TemporaryDirectory("catalog")
        for name in ["a", "b", "c"] { try dir.write("\(name).yaml", job("echo \(name)")) }
        var catalog = settledCatalog(dir)
        catalog.reload()
        try dir.write("a.yaml", job("echo A"))
        try dir.write("b.yaml", job("echo B"))
        try dir.write("d.yaml", job("echo d"))
        let changes = catalog.reload(touched: ["a.yaml"])
        #expect(Set(changes) == [.changed(JobID("a")!), .added(JobID("d")!)], "a was named; d is new to the listing")
        #expect(catalog.entries[JobID("b")!]?.job?.steps.first?.kind == .run("echo b"), "b was not named")
        #expect(catalog.readAtLastLoad == [JobID("a")!, JobID("d")!])
        try FileManager.default.removeItem(atPath: dir.file("c.yaml"))
        #expect(catalog.reload(touched: ["c.yaml"]) == [.removed(JobID("c")!)])
        #expect(Set(catalog.reload()) == [.changed(JobID("b")!)], "a full reload finds what the watcher did not name")
    }

    /// Without an inotify instance (the kernel's per-user limit reached), the watcher looks at the
    /// directory on an interval and names the files that changed.
    @Test func withoutInotifyTheWatcherLooksOnAnInterval() async throws {
        let dir = try TemporaryDirectory("poll-watch")
        try dir.write("old.yaml", job("true"))
        try dir.write("notes.txt", "not a job")
        let (heard, hear) = AsyncStream.makeStream(of: Set<String>?.self)
        let watcher = JobsDirectoryWatcher(
            directory: dir.path, logger: CapturedLog().logger, inotify: false, pollInterval: .milliseconds(200)
        ) { hear.yield($0) }
        let task = Task { try await watcher.run() }
        defer {
            watcher.stop()
            task.cancel()
        }
        try await Task.sleep(for: .milliseconds(300))
        try dir.write("new.yaml", job("true"))
        try FileManager.default.removeItem(atPath: dir.file("old.yaml"))
        try dir.write("notes.txt", "still not a job")
        var iterator = heard.makeAsyncIterator()
        var names: Set<String> = []
        while names != ["new.yaml", "old.yaml"], let next = await iterator.next() { names.formUnion(next ?? []) }
        #expect(names == ["new.yaml", "old.yaml"])
    }
}
