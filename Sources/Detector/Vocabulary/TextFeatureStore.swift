import Foundation

/// Where encoded vocabularies outlive the process (the daemon keeps them in its state directory), so a restart does
/// not re-encode a thousand prompts. Keys are hex digests naming everything the encoding depends on; a store may
/// forget any entry at any time. `save` reports its own failures (the detector carries on without the cache).
public protocol TextFeatureStore: Sendable {
    func load(key: String) -> Data?
    func save(key: String, data: Data)
}
