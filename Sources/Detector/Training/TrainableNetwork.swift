/// A network built over `Variable`s for training: every tensor of its graph by upstream key (frozen ones as constants),
/// for the optimizer, the weight average and checkpoints.
public protocol TrainableNetwork: AnyObject {
    var parameters: [String: Variable] { get }
}

extension TrainableNetwork {
    /// The parameters gradients are computed for, by key.
    public var trainableParameters: [(String, Variable)] {
        parameters.filter { $0.value.requiresGrad }.sorted { $0.key < $1.key }
    }
}
