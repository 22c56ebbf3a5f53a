import BespokeCore
import Crypto
public import Foundation

/// A Standard Webhooks signing secret: `whsec_` followed by base64 of 24 to 64 random bytes.
///
/// Its description never shows the key, so a secret logged by mistake does not leak.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "whsec_"

    /// The key bytes the HMAC is keyed with.
    public let key: Data
    /// An HMAC keyed with ``key`` and fed nothing yet. Each signature starts from a copy, so the
    /// key is padded and hashed into the HMAC's two states once per secret, not per message.
    let keyed: HMAC<SHA256>

    /// Parses a `whsec_` secret.
    /// - Throws: ``WebhookSecretError`` when the prefix, the base64 or the key length is wrong.
    public init(_ text: String) throws(WebhookSecretError) {
        guard text.hasPrefix(Self.prefix) else { throw .missingPrefix }
        guard let key = Data(base64Encoded: String(text.dropFirst(Self.prefix.count))) else { throw .invalidBase64 }
        guard (24...64).contains(key.count) else { throw .invalidLength(key.count) }
        self.init(key: key)
    }

    /// A new random secret of 32 bytes.
    public static func generate() -> WebhookSecret {
        WebhookSecret(key: Data(SecureRandom.bytes(32)))
    }

    private init(key: Data) {
        self.key = key
        self.keyed = HMAC<SHA256>(key: SymmetricKey(data: key))
    }

    /// Secrets are equal when their keys are.
    public static func == (lhs: WebhookSecret, rhs: WebhookSecret) -> Bool {
        lhs.key == rhs.key
    }

    /// The `whsec_...` text, to show the secret's owner once.
    public var text: String { Self.prefix + key.base64EncodedString() }

    public var description: String { "whsec_…(\(key.count) bytes)" }
}

/// Why a string is not a webhook secret.
public enum WebhookSecretError: Error, Sendable, Equatable {
    case missingPrefix
    case invalidBase64
    /// The key must be 24 to 64 bytes.
    case invalidLength(Int)
}
