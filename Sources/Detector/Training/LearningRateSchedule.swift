import Foundation

/// MDETR's "linear_with_warmup" schedule (`main.py`): the main and backbone groups drop ×0.1 every `dropEvery`
/// epochs — or once, at step `dropAtStep`, for runs bounded by steps rather than epochs; the text encoder warms up
/// linearly over the first `warmupFraction` of all steps, then decays linearly to 0 at the last step. Evaluated after
/// every optimizer step.
public struct LearningRateSchedule: Sendable {
    public var base: [String: Float]        // group name → initial rate
    public var dropEvery: Int               // epochs (lr_drop)
    public var dropAtStep = 0               // steps (lr_drop_step); when > 0 it replaces the per-epoch drop
    public var totalSteps: Int
    public var warmupFraction: Float = 0.01

    public init(base: [String: Float], dropEvery: Int, totalSteps: Int) {
        self.base = base
        self.dropEvery = dropEvery
        self.totalSteps = totalSteps
    }

    /// The rate of `group` after `step` steps, in epoch `epoch`.
    public func rate(_ group: String, step: Int, epoch: Int) -> Float {
        let initial = base[group] ?? 0
        if group == "text_encoder" {
            let warmup = max(1, Int(Float(totalSteps) * warmupFraction))
            if step < warmup { return initial * Float(step) / Float(warmup) }
            return initial * max(0, Float(totalSteps - step) / Float(max(1, totalSteps - warmup)))
        }
        if dropAtStep > 0 { return step >= dropAtStep ? initial * 0.1 : initial }
        return initial * pow(0.1, Float(dropEvery > 0 ? epoch / dropEvery : 0))
    }

    public func apply(to optimizer: AdamW, step: Int, epoch: Int) {
        for i in optimizer.groups.indices {
            optimizer.groups[i].learningRate = rate(optimizer.groups[i].name, step: step, epoch: epoch)
        }
    }
}

