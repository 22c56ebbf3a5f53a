public import JWTKit

/// The claims of an access token: who (`sub`), for which tenant, with which scopes.
public struct AccessTokenClaims: JWTPayload, Equatable {
    public var iss: IssuerClaim
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim
    public var jti: IDClaim
    /// The tenant every call with this token is scoped to.
    public var tenant: String
    /// Space-separated scopes (RFC 8693 `scope`).
    public var scope: String
    public var clientID: String
    public var kind: CallerKind
    /// The user's name, for user tokens.
    public var preferredUsername: String?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat, jti, tenant, scope, kind
        case clientID = "client_id"
        case preferredUsername = "preferred_username"
    }

    /// The audience of every access token: the platform's APIs.
    public static let audience = "bespoke"

    public var scopes: [String] { scope.split(separator: " ").map(String.init) }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try aud.verifyIntendedAudience(includes: Self.audience)
    }
}

/// The claims of an OpenID Connect ID token, issued with `openid` to the client that signed
/// the user in.
public struct IDTokenClaims: JWTPayload, Equatable {
    public var iss: IssuerClaim
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim
    public var authTime: Int
    public var nonce: String?
    public var tenant: String
    public var preferredUsername: String

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat, nonce, tenant
        case authTime = "auth_time"
        case preferredUsername = "preferred_username"
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}
