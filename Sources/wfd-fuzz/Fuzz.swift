// The fuzzing entry for libFuzzer: `make fuzz` builds this with `-sanitize=fuzzer,address
// -parse-as-library -DFUZZING` and runs it once per target (chosen with WFD_FUZZ_TARGET).
// Built normally it replays inputs: `wfd-fuzz TARGET FILE…` runs each file through the target.

import CLinux
import Foundation
import WorkflowFuzzing

#if FUZZING
    let target: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["WFD_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            fatalError("set WFD_FUZZ_TARGET to one of: \(names)")
        }
        return target
    }()

    /// SwiftPM links an executable with its entry point named after the module, so that is where
    /// libFuzzer's driver is started (its own `main` is never linked in).
    @_cdecl("wfd_fuzz_main")
    func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { start, size in
            target.run(start.map { Data(bytes: $0, count: size) } ?? Data())
            return 0
        }
    }
#else
    @main enum Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
                let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: " | ")
                FileHandle.standardError.write(Data("usage: wfd-fuzz \(names) FILE...\n".utf8))
                exit(64)
            }
            for path in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("wfd-fuzz: cannot read \(path)\n".utf8))
                    exit(66)
                }
                target.run(data)
            }
        }
    }
#endif
