import BespokeCore
import Crypto
import Foundation

/// Values carried by a client and trusted when they come back: JSON signed with HMAC-SHA256,
/// `<base64url payload>.<base64url MAC>` (the login page's form, storefront cookies). Signed,
/// not encrypted: the holder can read what it carries.
public struct PayloadSealer: Sendable {
    private let keyBytes: [UInt8]

    /// - Parameters:
    ///   - key: the secret (at least 32 bytes).
    ///   - purpose: when given, the key is derived for this use alone (SHA-256 of the key and
    ///     the purpose), so a value sealed for one use never opens as another.
    public init(key: [UInt8], purpose: String? = nil) {
        self.keyBytes = purpose.map { Array(SHA256.hash(data: Data(key + Array($0.utf8)))) } ?? key
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    public func seal(_ value: some Encodable) throws -> String {
        let payload = try JSONEncoder().encode(value)
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: key)
        return Base64URL.encode(payload) + "." + Base64URL.encode(mac)
    }

    /// The sealed value, if its signature holds and it decodes as `T`.
    public func open<T: Decodable>(_ text: String, as type: T.Type) -> T? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(parts[0]), let mac = Base64URL.decode(parts[1]),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key)
        else { return nil }
        return try? JSONDecoder().decode(T.self, from: payload)
    }
}
