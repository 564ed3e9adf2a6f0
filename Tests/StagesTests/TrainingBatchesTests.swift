import Detector
import Testing
@testable import Stages

/// Epochs under repeat-factor sampling differ in length; the training loop counts on every epoch having exactly
/// `stepsPerEpoch` batches (a shorter one once left the loop spinning without a step).
@Suite struct TrainingBatchesTests {
    @Test func repeatFactorEpochsVaryAndAreFittedToTheEpochLength() {
        let records = (0..<10).map { TrainingRecord(image: $0, caption: "a", boxes: [[0.5, 0.5, 0.1, 0.1]], spans: [[0..<1]]) }
        let factors = [Double](repeating: 1.5, count: 10)
        let counts = (0..<20).map { epoch -> Int in
            var rng = SplitMix64(seed: 0, stream: 9, index: UInt64(epoch))
            return TrainingSession.batches(records, size: 2, rng: &rng, factors: factors).count
        }
        #expect(Set(counts).count > 1, "repeat-factor epochs should differ in length: \(counts)")
        for epoch in 0..<20 {
            var rng = SplitMix64(seed: 0, stream: 9, index: UInt64(epoch))
            let fitted = TrainingSession.fitted(TrainingSession.batches(records, size: 2, rng: &rng, factors: factors), to: 7)
            #expect(fitted.count == 7 && fitted.allSatisfy { !$0.isEmpty })
        }
    }
}
