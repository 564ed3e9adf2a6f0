/// Loads a network's parameters by their upstream names, strictly in both directions: after building, `finish()`
/// reports every missing key, every key the network did not use, and every shape mismatch, together in one error.
/// Scope strings are exactly the upstream `state_dict` prefixes, so a report can be diffed against PyTorch's.
public final class WeightLoader: @unchecked Sendable {
    private let source: any WeightSource
    /// Keys the file may carry that no network needs (e.g. `position_ids` buffers, BN `num_batches_tracked`).
    private let harmlessSuffixes: [String]
    private var used: Set<String> = []
    private var missing: [String] = []
    private var misshapen: [String] = []

    public init(source: any WeightSource,
                harmlessSuffixes: [String] = ["position_ids", "num_batches_tracked"]) {
        self.source = source
        self.harmlessSuffixes = harmlessSuffixes
    }

    public var root: WeightScope { WeightScope(loader: self, prefix: "") }

    public func scope(_ name: String) -> WeightScope { root.scope(name) }

    /// True when the file has this key (for optional parts, e.g. a contrastive-align head).
    public func has(_ key: String) -> Bool { source.shape(of: key) != nil }

    /// The stored shape of a key, without loading it (layouts read from the weights).
    public func shape(of key: String) -> [Int]? { source.shape(of: key) }

    func take(_ key: String, shape: [Int]?) -> Tensor {
        used.insert(key)
        guard let actual = source.shape(of: key) else {
            missing.append(key)
            return Tensor(zeros: shape ?? [0])
        }
        if let shape, shape != actual {
            misshapen.append("\(key) expected \(shape) found \(actual)")
            return Tensor(zeros: shape)
        }
        do { return try source.tensor(key) } catch {
            misshapen.append("\(key): \(error)")
            return Tensor(zeros: actual)
        }
    }

    /// Throws if anything was missing, mis-shaped, or left unused.
    public func finish(ignoringPrefixes: [String] = []) throws {
        let unexpected = source.keys.filter { key in
            !used.contains(key) && !harmlessSuffixes.contains { key.hasSuffix($0) }
                && !ignoringPrefixes.contains { key.hasPrefix($0) }
        }
        if !missing.isEmpty || !unexpected.isEmpty || !misshapen.isEmpty {
            throw WeightsError.keyMismatch(missing: missing, unexpected: unexpected, misshapen: misshapen)
        }
    }
}

/// A prefix inside a `WeightLoader`: `loader.scope("backbone.0.body").conv("conv1", …)`; networks defined over
/// `NetworkValue` read through `Parameters`, which wraps one.
public struct WeightScope {
    let loader: WeightLoader
    public let prefix: String

    public func scope(_ name: String) -> WeightScope {
        WeightScope(loader: loader, prefix: key(name))
    }

    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    public func has(_ name: String) -> Bool { loader.has(key(name)) }

    /// The stored shape of `name`, or an empty shape when absent (the later load reports it missing).
    public func shape(_ name: String) -> [Int] { loader.shape(of: key(name)) ?? [] }

    /// A tensor of known shape (nil: whatever the file has).
    public func tensor(_ name: String, shape: [Int]?) -> Tensor { loader.take(key(name), shape: shape) }

    /// A convolution, optionally followed by a frozen batch-norm (folded in).
    public func conv(_ name: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1,
                     padding: Padding, groups: Int = 1, bias: Bool = false,
                     batchNorm: String? = nil, eps: Float = 1e-5) -> Conv2D {
        let s = scope(name)
        var conv = Conv2D(weight: s.tensor("weight", shape: [outChannels, inChannels / groups, kernel, kernel]),
                          bias: bias ? s.tensor("bias", shape: [outChannels]) : nil,
                          stride: stride, padding: padding, groups: groups)
        if let batchNorm {
            let bn = scope(batchNorm)
            conv.foldBatchNorm(gamma: bn.tensor("weight", shape: [outChannels]), beta: bn.tensor("bias", shape: [outChannels]),
                               mean: bn.tensor("running_mean", shape: [outChannels]),
                               variance: bn.tensor("running_var", shape: [outChannels]), eps: eps)
        }
        return conv.preparedForInference()
    }
}
