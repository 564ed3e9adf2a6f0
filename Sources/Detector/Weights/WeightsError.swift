/// Problems with a weights file or a model's key set. Each names the file or key so a user can act on it.
public enum WeightsError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case notACheckpoint(path: String, reason: String)
    case truncated(path: String, detail: String)
    case forbiddenGlobal(module: String, name: String)
    case unsupportedPickle(detail: String)
    case unsupportedDType(key: String, dtype: String)
    case keyMismatch(missing: [String], unexpected: [String], misshapen: [String])
    case missingConfig(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
        case let .notACheckpoint(path, reason): return "\(path) is not a PyTorch checkpoint or safetensors file: \(reason)"
        case let .truncated(path, detail): return "\(path) is truncated or damaged: \(detail)"
        case let .forbiddenGlobal(module, name):
            return "the checkpoint asks to run \(module).\(name), which is not on the allow-list of harmless types; it was refused and nothing was executed"
        case let .unsupportedPickle(detail): return "unsupported pickle content: \(detail)"
        case let .unsupportedDType(key, dtype): return "tensor \(key) has unsupported dtype \(dtype)"
        case let .keyMismatch(missing, unexpected, misshapen):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.count): \(missing.prefix(12).joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count): \(unexpected.prefix(12).joined(separator: ", "))") }
            if !misshapen.isEmpty { parts.append("wrong shape \(misshapen.count): \(misshapen.prefix(12).joined(separator: "; "))") }
            return "the weights do not fit the model — " + parts.joined(separator: " | ")
        case let .missingConfig(what): return "the model configuration is incomplete: \(what)"
        }
    }
}
