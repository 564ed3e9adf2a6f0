/// Parameters of a network being built, by upstream key, read through the strict `WeightLoader` (one report of
/// missing, unexpected and mis-shaped keys) for inference and training alike.
public struct Parameters<Value: NetworkValue> {
    public let scope: WeightScope
    /// Training: which parameters train, and every parameter built so far by key. nil for inference.
    public let registry: ParameterRegistry?

    /// Fresh parameters instead of loaded ones (training from scratch): made from each key and shape as asked.
    let fresh: FreshParameters?

    public init(_ scope: WeightScope, registry: ParameterRegistry? = nil) {
        self.scope = scope
        self.registry = registry
        fresh = nil
    }

    /// Parameters made by `fresh` rather than read: the network definition says which keys and shapes exist.
    init(initializing fresh: FreshParameters) {
        scope = WeightLoader(source: InMemoryWeights([])).root
        registry = nil
        self.fresh = fresh
    }

    private init(_ scope: WeightScope, registry: ParameterRegistry?, fresh: FreshParameters?) {
        self.scope = scope
        self.registry = registry
        self.fresh = fresh
    }

    public func scope(_ name: String) -> Parameters { Parameters(scope.scope(name), registry: registry, fresh: fresh) }

    public func has(_ name: String) -> Bool { scope.has(name) }

    /// The parameter `name` of `shape` (nil: whatever the file has).
    public func callAsFunction(_ name: String, shape: [Int]?) -> Value {
        let key = scope.key(name)
        if let fresh, let shape { return Value.parameter(fresh.make(key, shape: shape), key: key, registry: registry) }
        return Value.parameter(scope.tensor(name, shape: shape), key: key, registry: registry)
    }

    public func linear(_ name: String, in inFeatures: Int, out outFeatures: Int) -> Linear<Value> {
        let s = scope(name)
        return Linear(weight: s("weight", shape: [outFeatures, inFeatures]), bias: s("bias", shape: [outFeatures]))
    }

    public func layerNorm(_ name: String, dim: Int, eps: Float) -> LayerNorm<Value> {
        let s = scope(name)
        return LayerNorm(weight: s("weight", shape: [dim]), bias: s("bias", shape: [dim]), eps: eps)
    }

    /// `nn.MultiheadAttention` under `name`: packed `in_proj_weight` (3E, E) and bias, `out_proj`.
    public func attention(_ name: String, dim: Int, heads: Int) -> MultiheadAttention<Value> {
        let s = scope(name)
        return MultiheadAttention(inProjWeight: s("in_proj_weight", shape: [3 * dim, dim]),
                                  inProjBias: s("in_proj_bias", shape: [3 * dim]),
                                  outProj: s.linear("out_proj", in: dim, out: dim), heads: heads)
    }
}

/// The parameters of a network built for training: each upstream key's `Variable` (frozen ones as constants), and
/// the rule that decides which train.
public final class ParameterRegistry {
    public private(set) var parameters: [String: Variable] = [:]
    let trains: (String) -> Bool

    public init(trains: @escaping (String) -> Bool) { self.trains = trains }

    func register(_ value: Tensor, key: String) -> Variable {
        if let existing = parameters[key] { return existing }
        let v = Variable(value, requiresGrad: trains(key), name: key)
        parameters[key] = v
        return v
    }
}
