import BespokeCore
import Crypto
import Foundation

/// High-entropy opaque secrets (API keys, client secrets, codes, refresh tokens): generated
/// from the system's secure generator, shown to their holder once, stored only as a SHA-256.
public enum OpaqueToken {
    /// `prefix` followed by `bytes` random bytes, base64url without padding.
    public static func generate(prefix: String, bytes: Int = 32) -> String {
        prefix + Base64URL.encode(SecureRandom.bytes(bytes))
    }

    /// SHA-256 of the token, lower-case hex: what is stored and looked up.
    public static func hash(_ token: String) -> String {
        hex(Array(SHA256.hash(data: Data(token.utf8))))
    }

    /// Lower-case hex.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
