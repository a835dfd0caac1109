import Foundation
import Testing
import WorkflowFuzzing
import WorkflowTesting

/// Replays every input kept in `Tests/Fixtures/fuzz/<target>/` (the seeds and whatever `make fuzz`
/// found worth keeping, crashes included once fixed) through its fuzz target: a crash or a
/// violated property ends this test process.
@Suite struct FuzzCorpusTests {
    /// On a thread of its own: a few seconds of parsing must not hold one of the concurrency
    /// pool's two threads while the daemon tests need them.
    @Test(arguments: FuzzTarget.allCases)
    func everyKeptInputRunsThroughItsTarget(_ target: FuzzTarget) async throws {
        let directory = "\(BuiltProducts.packageRoot)/Tests/Fixtures/fuzz/\(target.rawValue)"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names.count >= 10, "a corpus to replay in \(directory)")
        let unreadable: [String] = await withCheckedContinuation { continuation in
            Thread {
                var unreadable: [String] = []
                for name in names {
                    guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)") else {
                        unreadable.append(name)
                        continue
                    }
                    target.run(data)
                }
                continuation.resume(returning: unreadable)
            }.start()
        }
        #expect(unreadable.isEmpty)
    }
}
