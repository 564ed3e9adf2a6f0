import Foundation

/// A node of the reverse-mode graph: a value, its gradient once `backward` has run, and how to pass a gradient on to
/// the nodes it was computed from. Leaves are parameters (`requiresGrad`) or constants; every op in `Autograd/` builds
/// its output node with its backward rule next to its forward code.
///
/// Memory: a node's backward closure holds what its rule needs (inputs, saved activations). `backward()` releases each
/// closure as soon as it has run and drops intermediate gradients once passed on, so a step's activations are freed
/// layer by layer from the loss back to the inputs.
public final class Variable {
    public var value: Tensor
    /// Accumulated gradient (same shape as `value`); nil until some gradient reaches it.
    public var grad: Tensor?
    public let requiresGrad: Bool
    /// A name for parameters (the upstream state-dict key), for optimizers and reports.
    public var name: String?

    fileprivate var parents: [Variable]
    fileprivate var rule: ((Tensor) -> Void)?
    fileprivate let order: Int

    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()
    private static func nextOrder() -> Int {
        lock.lock()
        defer { lock.unlock() }
        counter += 1
        return counter
    }

    /// A leaf: a parameter when `requiresGrad`, otherwise a constant input.
    public init(_ value: Tensor, requiresGrad: Bool = false, name: String? = nil) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
        parents = []
        order = Self.nextOrder()
    }

    /// An op's output. `rule` receives this node's output gradient and accumulates into the parents (`accumulate`).
    init(_ value: Tensor, parents: [Variable], rule: @escaping (Tensor) -> Void) {
        self.value = value
        self.requiresGrad = parents.contains { $0.requiresGrad }
        self.parents = requiresGrad ? parents : []
        self.rule = requiresGrad ? rule : nil
        self.name = nil
        order = Self.nextOrder()
    }

    public var shape: [Int] { value.shape }

    /// Adds `g` to this node's gradient (gradients accumulate; a value used twice gets both contributions).
    func accumulate(_ g: Tensor) {
        guard requiresGrad else { return }
        precondition(g.shape == value.shape || g.count == value.count, "gradient \(g.shape) for value \(value.shape)")
        if var existing = grad {
            existing.data.withUnsafeMutableBufferPointer { e in
                g.data.withUnsafeBufferPointer { s in for i in 0..<e.count { e[i] += s[i] } }
            }
            grad = existing
        } else {
            grad = Tensor(shape: value.shape, data: g.data)
        }
    }

    /// Reverse-mode sweep from this scalar (or from `seed`): nodes run in reverse creation order, which is a
    /// topological order because an op's output is created after its inputs.
    public func backward(seed: Tensor? = nil) {
        precondition(seed != nil || value.count == 1, "backward() from a non-scalar needs a seed gradient")
        var nodes: [Variable] = []
        var seen = Set<ObjectIdentifier>()
        var stack = [self]
        while let node = stack.popLast() {
            guard node.requiresGrad, seen.insert(ObjectIdentifier(node)).inserted else { continue }
            nodes.append(node)
            stack += node.parents
        }
        nodes.sort { $0.order > $1.order }
        accumulate(seed ?? Tensor(repeating: 1, shape: value.shape))
        for node in nodes {
            guard let rule = node.rule, let g = node.grad else { continue }
            rule(g)
            // Release what the rule held and the intermediate gradient: this node is done.
            node.rule = nil
            node.parents = []
            node.grad = nil
        }
    }
}
