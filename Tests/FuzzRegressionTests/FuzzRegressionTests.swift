import Foundation
import FuzzTargets
import Testing
import TestSupport

/// Replays every seed and every minimized crash input of the fuzz targets
/// (Tests/Fuzz/Corpus/<target>, Tests/Fuzz/Regressions/<target>) through the same target
/// code the fuzzer runs: none may trap. Needs no fuzzer build.
@Suite(.testThreads) struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ kind: String, _ target: String) -> [URL] {
        let dir = root.appendingPathComponent(kind).appendingPathComponent(target)
        return ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
            .filter { !$0.lastPathComponent.hasPrefix(".") && $0.pathExtension != "md" }
            .sorted { $0.path < $1.path }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func corpusAndRegressionsReplay(_ target: String) throws {
        let run = try #require(FuzzTargets.named(target))
        let seeds = Self.inputs("Corpus", target), crashes = Self.inputs("Regressions", target)
        #expect(!seeds.isEmpty, "target \(target) has no seed corpus in Tests/Fuzz/Corpus/\(target)")
        for file in seeds + crashes {
            run(Array(try Data(contentsOf: file)))
        }
    }
}
