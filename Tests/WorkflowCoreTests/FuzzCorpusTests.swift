import Foundation
import Testing
import WorkflowFuzzing
import WorkflowTesting

/// Replays every input kept in `Tests/Fixtures/fuzz/<target>/` (the seeds and whatever `make fuzz`
/// found worth keeping, crashes included once fixed) through its fuzz target: a crash or a
/// violated property ends this test process.
@Suite struct FuzzCorpusTests {
    @Test(arguments: FuzzTarget.allCases)
    func everyKeptInputRunsThroughItsTarget(_ target: FuzzTarget) throws {
        let directory = "\(BuiltProducts.packageRoot)/Tests/Fixtures/fuzz/\(target.rawValue)"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names.count >= 10, "a corpus to replay in \(directory)")
        for name in names {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))
            target.run(data)
        }
    }
}
