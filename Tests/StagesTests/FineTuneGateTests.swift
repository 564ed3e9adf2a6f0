import Pipeline
import Testing
@testable import Stages

/// The promotion gate: a candidate replaces the active model only if it is not worse on the held-out labels.
@Suite struct FineTuneGateTests {
    let gate = FineTuneSettings()

    @Test func notWorseOnAPAndAPrPasses() {
        let verdict = gate.gate(candidate: ["AP": 0.31, "APr": 0.20], parent: ["AP": 0.30, "APr": 0.20])
        #expect(verdict.passed && verdict.reason.contains("AP 0.3100 vs 0.3000"))
    }

    @Test func aRareClassCollapseIsRejectedEvenWhenAPRises() {
        let verdict = gate.gate(candidate: ["AP": 0.40, "APr": 0.07], parent: ["AP": 0.30, "APr": 0.21])
        #expect(!verdict.passed && verdict.reason.contains("APr 0.0700 vs 0.2100 (worse)"))
    }

    @Test func allowedDropsAndUnmeasurableMetrics() {
        var lenient = FineTuneSettings()
        lenient.maxAPDrop = 0.05
        #expect(lenient.gate(candidate: ["AP": 0.27, "APr": -1], parent: ["AP": 0.30, "APr": -1]).passed)
        #expect(!lenient.gate(candidate: ["AP": 0.24, "APr": -1], parent: ["AP": 0.30, "APr": -1]).passed)
        // Labels that measure nothing cannot justify a switch.
        #expect(!gate.gate(candidate: ["AP": -1, "APr": -1], parent: ["AP": -1, "APr": -1]).passed)
    }

    @Test func theSnapshotRoundTrips() {
        let s = FineTuneSnapshot(uptoImport: 7, vocabulary: "shapes", trainImages: 40, heldoutImages: 10)
        #expect(FineTuneSnapshot(json: s.json) == s)
        #expect(s.json == #"{"heldout_images":10,"train_images":40,"upto_import":7,"vocabulary":"shapes"}"#)
        #expect(FineTuneSnapshot(json: "nonsense") == nil)
    }
}
