import BespokeCore
import Crypto
import Foundation

/// Who is signed in to a tenant's storefront: carried in a cookie signed with HMAC-SHA256
/// under the server's session key, scoped to that tenant's storefront path.
struct ShopSession: Sendable, Equatable, Codable {
    enum Role: String, Sendable, Codable {
        /// Browses, buys, sees their own orders.
        case shopper
        /// Also sees and ships every order of the shop.
        case admin
    }

    let tenant: TenantID
    let buyer: String
    let role: Role
    /// Seconds since 1970 after which the cookie is refused.
    let expires: Double

    static let cookieName = "bespoke_shop"
    static let buyerRule = "a buyer is 1-100 characters of letters, digits, '.', '_', '@' and '-'"

    static func isValidBuyer(_ buyer: String) -> Bool {
        let utf8 = buyer.utf8
        return !utf8.isEmpty && utf8.count <= 100
            && utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39)
                    || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D || $0 == 0x40
            }
    }
}

/// A sign-in under way: what the storefront keeps (in a signed cookie) between sending the
/// browser to the authorization endpoint and its return.
struct LoginAttempt: Codable {
    let tenant: TenantID
    let state: String
    let verifier: String
    let expires: Double

    static let cookieName = "bespoke_login"
}

/// Signs and verifies storefront session cookies.
struct SessionSealer: Sendable {
    private let keyBytes: [UInt8]

    init(key: [UInt8]) {
        self.keyBytes = key
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// `<base64url payload>.<base64url HMAC>`.
    func seal(_ session: some Encodable) throws -> String {
        let payload = try JSONEncoder().encode(session)
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: key)
        return Self.base64URL(payload) + "." + Self.base64URL(Data(mac))
    }

    /// The session in a cookie value, if its signature holds and it has not expired.
    func open(_ value: String, now: Date = Date()) -> ShopSession? {
        open(value, as: ShopSession.self).flatMap { $0.expires > now.timeIntervalSince1970 ? $0 : nil }
    }

    /// A sealed value, if its signature holds.
    func open<T: Decodable>(_ value: String, as type: T.Type) -> T? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Self.decodeBase64URL(parts[0]), let mac = Self.decodeBase64URL(parts[1]),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key)
        else { return nil }
        return try? JSONDecoder().decode(T.self, from: payload)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
