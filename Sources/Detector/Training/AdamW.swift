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
    public private(set) var step = 0
    /// First and second moments per parameter (by identity), created at the first step.
    var moments: [ObjectIdentifier: (m: [Float], v: [Float])] = [:]

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
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        for group in groups {
            let lr = group.learningRate
            let stepSize = lr / c1, root2 = c2.squareRoot()
            for p in group.parameters {
                guard let grad = p.grad else { continue }
                let key = ObjectIdentifier(p)
                var (m, v) = moments.removeValue(forKey: key)
                    ?? ([Float](repeating: 0, count: grad.count), [Float](repeating: 0, count: grad.count))
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
                moments[key] = (m, v)
                p.grad = nil
            }
        }
    }

    public func zeroGradients() {
        for g in groups { for p in g.parameters { p.grad = nil } }
    }

    /// The moments as named tensors (`m.KEY`, `v.KEY`), for checkpoints.
    public func momentTensors(_ parameters: [(String, Variable)]) -> [(String, Tensor)] {
        parameters.flatMap { name, p -> [(String, Tensor)] in
            guard let (m, v) = moments[ObjectIdentifier(p)] else { return [] }
            return [("m." + name, Tensor(shape: p.shape, data: m)), ("v." + name, Tensor(shape: p.shape, data: v))]
        }
    }

    /// Restores moments written by `momentTensors` and the step count they belong to.
    public func restoreMoments(_ source: any WeightSource, step: Int, parameters: [(String, Variable)]) throws {
        let keys = Set(source.keys)
        for (name, p) in parameters where keys.contains("m." + name) && keys.contains("v." + name) {
            moments[ObjectIdentifier(p)] = (try source.tensor("m." + name).data, try source.tensor("v." + name).data)
        }
        self.step = step
    }
}
