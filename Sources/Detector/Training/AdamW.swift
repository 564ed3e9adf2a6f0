import Foundation

/// AdamW exactly as `torch.optim.AdamW` computes it (decoupled weight decay applied first, bias-corrected moments,
/// eps added after the square root), with parameter groups, and `clip_grad_norm_` before the step.
public final class AdamW {
    public struct Group {
        public var name: String
        public var parameters: [Variable]
        public var learningRate: Float
        public init(name: String, parameters: [Variable], learningRate: Float) {
            self.name = name
            self.parameters = parameters
            self.learningRate = learningRate
        }
    }

    public var groups: [Group]
    public var beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8
    public var weightDecay: Float
    /// Updates made (the learning-rate schedule and the weight average count these).
    public private(set) var step = 0
    /// First and second moments per parameter (by identity), created at its first update, and how many updates it
    /// has had: as `torch.optim.AdamW`, each parameter's bias correction counts its own updates, so a parameter that
    /// gets no gradient in some steps (a box head during image–text batches) is not corrected as if it had.
    var moments: [ObjectIdentifier: (m: [Float], v: [Float], updates: Int)] = [:]

    public init(groups: [Group], weightDecay: Float = 1e-4) {
        self.groups = groups
        self.weightDecay = weightDecay
    }

    /// MDETR's groups: backbone (lr_backbone 1e-5), text encoder (text_encoder_lr 5e-5), everything else (lr 1e-4).
    public static func mdetrGroups(_ parameters: [(String, Variable)], lr: Float = 1e-4, backbone: Float = 1e-5,
                                   textEncoder: Float = 5e-5) -> [Group] {
        [Group(name: "main", parameters: parameters.filter { !$0.0.contains("backbone") && !$0.0.contains("text_encoder") }.map(\.1), learningRate: lr),
         Group(name: "backbone", parameters: parameters.filter { $0.0.contains("backbone") }.map(\.1), learningRate: backbone),
         Group(name: "text_encoder", parameters: parameters.filter { $0.0.contains("text_encoder") }.map(\.1), learningRate: textEncoder)]
    }

    /// Scales every gradient so their global L2 norm is at most `maxNorm` (`clip_grad_norm_`: coefficient
    /// maxNorm / (norm + 1e-6), clamped at 1). Returns the norm before clipping.
    @discardableResult
    public func clipGradients(maxNorm: Float) -> Float {
        var sum: Double = 0
        for g in groups { for p in g.parameters { if let grad = p.grad { for x in grad.data { sum += Double(x) * Double(x) } } } }
        let norm = Float(sum.squareRoot())
        let coefficient = min(1, maxNorm / (norm + 1e-6))
        guard coefficient != 1 else { return norm }
        for g in groups {
            for p in g.parameters {
                guard var grad = p.grad else { continue }
                p.grad = nil
                grad.data.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] *= coefficient } }
                p.grad = grad
            }
        }
        return norm
    }

    /// One update of every parameter that has a gradient; gradients are then cleared.
    public func update() {
        step += 1
        for group in groups {
            let lr = group.learningRate
            for p in group.parameters {
                guard let grad = p.grad else { continue }
                let key = ObjectIdentifier(p)
                var (m, v, updates) = moments.removeValue(forKey: key)
                    ?? ([Float](repeating: 0, count: grad.count), [Float](repeating: 0, count: grad.count), 0)
                updates += 1
                let c1 = 1 - pow(beta1, Float(updates)), c2 = 1 - pow(beta2, Float(updates))
                let stepSize = lr / c1, root2 = c2.squareRoot()
                let decay = 1 - lr * weightDecay
                let (b1, b2, eps) = (beta1, beta2, eps)
                // Raw buffers: element access through the class property would check exclusivity and uniqueness
                // on every element (a tenth of a training step).
                var value = p.value.data
                p.value.data = []
                value.withUnsafeMutableBufferPointer { w in
                    m.withUnsafeMutableBufferPointer { mp in
                        v.withUnsafeMutableBufferPointer { vp in
                            grad.data.withUnsafeBufferPointer { gp in
                                for i in 0..<gp.count {
                                    let g = gp[i]
                                    mp[i] = b1 * mp[i] + (1 - b1) * g
                                    vp[i] = b2 * vp[i] + (1 - b2) * g * g
                                    w[i] = w[i] * decay - stepSize * mp[i] / (vp[i].squareRoot() / root2 + eps)
                                }
                            }
                        }
                    }
                }
                p.value.data = value
                moments[key] = (m, v, updates)
                p.grad = nil
            }
        }
    }

    public func zeroGradients() {
        for g in groups { for p in g.parameters { p.grad = nil } }
    }

    /// The moments as named tensors (`m.KEY`, `v.KEY`, and `t.KEY` the parameter's update count), for checkpoints.
    public func momentTensors(_ parameters: [(String, Variable)]) -> [(String, Tensor)] {
        parameters.flatMap { name, p -> [(String, Tensor)] in
            guard let (m, v, updates) = moments[ObjectIdentifier(p)] else { return [] }
            return [("m." + name, Tensor(shape: p.shape, data: m)), ("v." + name, Tensor(shape: p.shape, data: v)),
                    ("t." + name, Tensor(shape: [1], data: [Float(updates)]))]
        }
    }

    /// Restores moments written by `momentTensors` and the step count they belong to (a checkpoint without update
    /// counts, written before they were kept, gives every parameter the step count).
    public func restoreMoments(_ source: any WeightSource, step: Int, parameters: [(String, Variable)]) throws {
        let keys = Set(source.keys)
        for (name, p) in parameters where keys.contains("m." + name) && keys.contains("v." + name) {
            var updates = step
            if keys.contains("t." + name), let t = try source.tensor("t." + name).data.first, t.isFinite, t >= 0, t < 1e9 { updates = Int(t) }
            moments[ObjectIdentifier(p)] = (try source.tensor("m." + name).data, try source.tensor("v." + name).data, updates)
        }
        self.step = step
    }
}
