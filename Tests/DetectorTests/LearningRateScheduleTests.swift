@testable import Detector
import Testing

/// The schedule is a pure function of (step, epoch): a resumed run must land on the same rates.
@Suite struct LearningRateScheduleTests {
    @Test func dropsEveryEpochsLikeMDETR() {
        let s = LearningRateSchedule(base: ["main": 1e-4, "backbone": 1e-5], dropEvery: 3, totalSteps: 1000)
        #expect(s.rate("main", step: 500, epoch: 2) == 1e-4)
        #expect(abs(s.rate("main", step: 600, epoch: 3) - 1e-5) < 1e-12)
        #expect(abs(s.rate("backbone", step: 900, epoch: 6) - 1e-7) < 1e-13)
    }

    @Test func dropsOnceAtAStepWhenBoundByStepsInsteadOfEpochs() {
        var s = LearningRateSchedule(base: ["main": 4e-4], dropEvery: 3, totalSteps: 1000)
        s.dropAtStep = 700
        #expect(s.rate("main", step: 699, epoch: 5) == 4e-4)       // the per-epoch drop no longer applies
        #expect(abs(s.rate("main", step: 700, epoch: 5) - 4e-5) < 1e-12)
        #expect(abs(s.rate("main", step: 999, epoch: 9) - 4e-5) < 1e-12)
    }

    @Test func textEncoderWarmsUpThenDecaysToZero() {
        let s = LearningRateSchedule(base: ["text_encoder": 1e-5], dropEvery: 0, totalSteps: 1000)
        #expect(s.rate("text_encoder", step: 0, epoch: 0) == 0)
        #expect(abs(s.rate("text_encoder", step: 5, epoch: 0) - 5e-6) < 1e-12)
        #expect(abs(s.rate("text_encoder", step: 10, epoch: 0) - 1e-5) < 1e-12)
        #expect(s.rate("text_encoder", step: 1000, epoch: 3) == 0)
    }
}
