public import BespokeCore
public import Foundation

/// A person who signs in to a tenant's storefront (or administers it): one tenant's user.
public struct UserRecord: Sendable, Equatable {
    /// `usr_` followed by 24 hex digits.
    public let id: String
    public let tenant: TenantID
    /// Unique within the tenant; what the user types on the login page.
    public let username: String
    /// bcrypt (`$2b$...`).
    public let passwordHash: String
    /// The scopes this user's tokens may carry (`shop`, `shop:admin`, ...).
    public let scopes: [String]
    public let createdAt: Date

    public init(id: String, tenant: TenantID, username: String, passwordHash: String, scopes: [String], createdAt: Date) {
        self.id = id
        self.tenant = tenant
        self.username = username
        self.passwordHash = passwordHash
        self.scopes = scopes
        self.createdAt = createdAt
    }
}

/// An OAuth2 client of one tenant: a customization service (confidential, with a secret, using
/// `client_credentials`) or a browser application (public, PKCE, `authorization_code`).
public struct ClientRecord: Sendable, Equatable {
    /// The `client_id`: `cli_` followed by 24 hex digits. Globally unique; it names the tenant.
    public let id: String
    public let tenant: TenantID
    public let name: String
    /// SHA-256 of the client secret (lower-case hex); nil for a public client.
    public let secretHash: String?
    /// The most a token issued to this client may carry.
    public let scopes: [String]
    /// Where the authorization endpoint may send codes (exact match).
    public let redirectURIs: [String]
    public let createdAt: Date

    public init(
        id: String, tenant: TenantID, name: String, secretHash: String?, scopes: [String], redirectURIs: [String], createdAt: Date
    ) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.secretHash = secretHash
        self.scopes = scopes
        self.redirectURIs = redirectURIs
        self.createdAt = createdAt
    }

    /// Whether the client authenticates with a secret.
    public var isConfidential: Bool { secretHash != nil }
}

/// An authorization code between the login page and the token endpoint: single use, short-lived.
public struct AuthorizationCodeRecord: Sendable, Equatable {
    /// SHA-256 of the code (the code itself is never stored).
    public let codeHash: String
    public let tenant: TenantID
    public let clientID: String
    public let userID: String
    public let redirectURI: String
    public let scopes: [String]
    /// The PKCE `code_challenge` (S256).
    public let codeChallenge: String
    /// The OpenID Connect `nonce`, echoed in the ID token.
    public let nonce: String?
    public let authTime: Date
    public let expiresAt: Date

    public init(
        codeHash: String, tenant: TenantID, clientID: String, userID: String, redirectURI: String, scopes: [String],
        codeChallenge: String, nonce: String?, authTime: Date, expiresAt: Date
    ) {
        self.codeHash = codeHash
        self.tenant = tenant
        self.clientID = clientID
        self.userID = userID
        self.redirectURI = redirectURI
        self.scopes = scopes
        self.codeChallenge = codeChallenge
        self.nonce = nonce
        self.authTime = authTime
        self.expiresAt = expiresAt
    }
}

/// A refresh token: opaque to its holder, stored hashed. Each use rotates it; the tokens one
/// sign-in produces form a family, and a reused (already rotated) token revokes its family.
public struct RefreshTokenRecord: Sendable, Equatable {
    public let tokenHash: String
    public let tenant: TenantID
    public let clientID: String
    public let userID: String
    public let scopes: [String]
    public let familyID: String
    public let expiresAt: Date
    public var usedAt: Date?
    public var revokedAt: Date?

    public init(
        tokenHash: String, tenant: TenantID, clientID: String, userID: String, scopes: [String], familyID: String,
        expiresAt: Date, usedAt: Date? = nil, revokedAt: Date? = nil
    ) {
        self.tokenHash = tokenHash
        self.tenant = tenant
        self.clientID = clientID
        self.userID = userID
        self.scopes = scopes
        self.familyID = familyID
        self.expiresAt = expiresAt
        self.usedAt = usedAt
        self.revokedAt = revokedAt
    }
}

/// What happened when a refresh token was presented for rotation.
public enum RefreshRotation: Sendable, Equatable {
    /// The token was valid and is now used; its replacement was stored.
    case rotated(RefreshTokenRecord)
    /// The token had already been used or revoked: its whole family is now revoked.
    case reused
    /// No such token (or it expired).
    case invalid
}

/// A key that signs access and ID tokens (ES256). Platform-wide, not a tenant's.
public struct SigningKeyRecord: Sendable, Equatable {
    /// The JWK `kid`.
    public let kid: String
    /// The P-256 private key, PEM.
    public let privateKeyPEM: String
    public let createdAt: Date
    /// When a rotated-out key stops being published and accepted; nil for the current key
    /// (the newest without a retirement date signs).
    public let retiresAt: Date?

    public init(kid: String, privateKeyPEM: String, createdAt: Date, retiresAt: Date?) {
        self.kid = kid
        self.privateKeyPEM = privateKeyPEM
        self.createdAt = createdAt
        self.retiresAt = retiresAt
    }
}
