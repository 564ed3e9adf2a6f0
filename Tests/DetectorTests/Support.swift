import Foundation
import Testing
@testable import Detector

enum Fixtures {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func config(_ model: String) throws -> MDETRConfig {
        try JSONDecoder().decode(MDETRConfig.self, from: Data(contentsOf: root.appendingPathComponent("\(model)/config.json")))
    }

    static func io(_ model: String) throws -> SafeTensors { try SafeTensors(path: path("\(model)/io.safetensors")) }
}

/// Shape first, then max |Δ| within `tolerance`; on failure prints the worst entries (llm.c's check_tensor).
func expectClose(_ got: Tensor, _ want: Tensor, tolerance: Float = 1e-4, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard got.shape == want.shape else {
        Issue.record("\(what): shape \(got.shape) vs reference \(want.shape)", sourceLocation: sourceLocation)
        return
    }
    let diff = got.maxAbsDifference(want)
    if diff > tolerance {
        let worst = (0..<got.count).sorted { abs(got.data[$0] - want.data[$0]) > abs(got.data[$1] - want.data[$1]) }.prefix(5)
        let pairs = worst.map { "[\($0)] \(got.data[$0]) vs \(want.data[$0])" }.joined(separator: ", ")
        Issue.record("\(what): max |Δ| \(diff) > \(tolerance); worst: \(pairs)", sourceLocation: sourceLocation)
    }
}
