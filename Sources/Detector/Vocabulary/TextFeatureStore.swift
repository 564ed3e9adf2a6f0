import Crypto
import Foundation

/// Where encoded vocabularies outlive the process (the daemon keeps them in its state directory), so a restart does
/// not re-encode a thousand prompts. Keys are hex digests naming everything the encoding depends on; a store may
/// forget any entry at any time. `save` reports its own failures (the detector carries on without the cache).
public protocol TextFeatureStore: Sendable {
    func load(key: String) -> Data?
    func save(key: String, data: Data)
}

/// A SHA-256 over fields, each length-prefixed so that no choice of field contents can make two different lists hash
/// alike: the keys a `TextFeatureStore` files encodings under.
struct FieldHash {
    private var hash = SHA256()

    mutating func add(_ field: String) {
        let bytes = Data(field.utf8)
        hash.update(data: Data("\(bytes.count):".utf8))
        hash.update(data: bytes)
    }

    /// The digest in hex.
    func hex() -> String { hash.finalize().map { String(format: "%02x", $0) }.joined() }
}
