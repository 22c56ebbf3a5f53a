import BespokeCore
import BespokeIdentity
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

/// Signs and verifies storefront cookies (the session, a sign-in under way).
struct SessionSealer: Sendable {
    private let sealer: PayloadSealer

    init(key: [UInt8]) {
        self.sealer = PayloadSealer(key: key)
    }

    func seal(_ value: some Encodable) throws -> String {
        try sealer.seal(value)
    }

    /// The session in a cookie value, if its signature holds and it has not expired.
    func open(_ value: String, now: Date = Date()) -> ShopSession? {
        open(value, as: ShopSession.self).flatMap { $0.expires > now.timeIntervalSince1970 ? $0 : nil }
    }

    /// A sealed value, if its signature holds.
    func open<T: Decodable>(_ value: String, as type: T.Type) -> T? {
        sealer.open(value, as: type)
    }
}
