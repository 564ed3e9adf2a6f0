/// EMA of the weights (MDETR `--ema`, decay 0.9998), updated after every step over the whole state dict — frozen
/// tensors and buffers included, which simply stay equal to the model's. Unlike upstream (which fine-tunes from
/// pretrained weights for many epochs), the decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so a
/// short run from fresh weights does not end with an average that is still mostly the initialisation.
public final class ExponentialMovingAverage {
    public let decay: Float
    public private(set) var shadow: [String: Tensor]

    public init(_ model: any TrainableNetwork, decay: Float = 0.9998) {
        self.decay = decay
        shadow = model.parameters.mapValues(\.value)
    }

    /// `updates`: how many updates came before this one (the optimizer's step count, so a resumed run continues).
    public func update(from model: any TrainableNetwork, updates: Int) {
        let decay = min(self.decay, Float(1 + updates) / Float(10 + updates))
        for (key, p) in model.parameters where p.requiresGrad {
            guard var s = shadow.removeValue(forKey: key) else { continue }
            s.data.withUnsafeMutableBufferPointer { sp in
                p.value.data.withUnsafeBufferPointer { vp in for i in 0..<sp.count { sp[i] = decay * sp[i] + (1 - decay) * vp[i] } }
            }
            shadow[key] = s
        }
    }

    /// Puts back a saved average (resuming a run).
    public func restore(_ key: String, _ value: Tensor) {
        if shadow[key]?.shape == value.shape { shadow[key] = value }
    }
}
