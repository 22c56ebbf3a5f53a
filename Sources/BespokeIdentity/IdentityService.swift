public import BespokeCore
public import BespokeStorage
import Foundation
import JWTKit
import Synchronization

/// The authorization server: tenants' users and OAuth2 clients, the grants (client
/// credentials, authorization code with PKCE, refresh token with rotation), revocation, and the
/// verification of the access tokens it issues.
///
/// Access tokens are ES256 JWTs carrying the tenant, the subject and the scopes; they are
/// verified from the in-memory ``SigningKeyRing``, so checking one reads nothing. Codes, refresh
/// tokens and client secrets are opaque and stored hashed.
public final class IdentityService: Sendable {
    public let store: any IdentityStore
    public let keys: SigningKeyRing
    public let configuration: IdentityConfiguration
    let hasher: PasswordHasher
    /// What an unknown username is checked against, so it costs as much as a wrong password;
    /// made on first need, off the cooperative pool.
    private let decoy = Mutex<String?>(nil)
    /// Signs the login page's form, so what it posts back is what was validated.
    let formSealer: PayloadSealer
    /// Whether a tenant may obtain tokens (not suspended).
    let isActive: @Sendable (TenantID) -> Bool
    private let issuerValue: Mutex<String?>
    /// Tokens already verified, until they expire: a service presents the same token for
    /// minutes, and its signature need not be checked again on every call.
    private let verified = Mutex<[String: AccessTokenClaims]>([:])
    static let verifiedCacheLimit = 10_000

    public init(
        store: any IdentityStore, configuration: IdentityConfiguration, formKey: [UInt8],
        isActive: @escaping @Sendable (TenantID) -> Bool = { _ in true }
    ) {
        self.store = store
        self.keys = SigningKeyRing(store: store)
        self.configuration = configuration
        self.hasher = PasswordHasher(cost: configuration.bcryptCost)
        self.formSealer = PayloadSealer(key: formKey, purpose: "bespoke login form")
        self.isActive = isActive
        self.apiScopes = Set(Scope.all + configuration.upstreamScopes)
        self.knownScopes = Scope.known.union(configuration.upstreamScopes)
        self.issuerValue = Mutex(configuration.issuer.map(Self.trimmed))
    }

    /// The scopes of the APIs: Bespoke's and the configured upstream services'.
    public let apiScopes: Set<String>
    /// Every scope a client may hold: the APIs' and OpenID Connect's.
    public let knownScopes: Set<String>

    /// The decoy hash, made once.
    func decoyHash() async -> String {
        if let made = decoy.withLock({ $0 }) { return made }
        let made = await hasher.hash("decoy password " + SecureRandom.hex(8))
        return decoy.withLock { current in
            if let current { return current }
            current = made
            return made
        }
    }

    /// Loads the signing keys (creating the first).
    public func start() async throws {
        try await keys.load()
    }

    /// The issuer: configured, or the server's own address once it listens.
    public var issuer: String { issuerValue.withLock { $0 } ?? "http://127.0.0.1" }

    /// Sets the issuer from the listening address when none was configured.
    public func useIssuerIfUnset(_ url: String) {
        issuerValue.withLock { value in
            if value == nil { value = Self.trimmed(url) }
        }
    }

    private static func trimmed(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    // MARK: Users

    /// Creates a user of `tenant`. - Throws: `invalid_request` for a bad name, password or
    /// scope; `conflict` when the name is taken.
    public func createUser(tenant: TenantID, username: String, password: String, scopes: [String]) async throws -> UserRecord {
        guard (1...64).contains(username.count), username.allSatisfy({ $0.isLetter || $0.isNumber || "._@-".contains($0) }) else {
            throw BespokeError(.invalidRequest, "username must be 1-64 letters, digits or . _ @ -")
        }
        guard password.count >= 8, password.utf8.count <= 72 else {
            throw BespokeError(.invalidRequest, "password must be 8 characters to 72 bytes (bcrypt's limit)")
        }
        if let unknown = scopes.first(where: { !apiScopes.contains($0) }) {
            throw BespokeError(.invalidRequest, "unknown scope '\(unknown)'; scopes are \(apiScopes.sorted().joined(separator: ", "))")
        }
        let user = UserRecord(
            id: "usr_" + SecureRandom.hex(12), tenant: tenant, username: username, passwordHash: await hasher.hash(password),
            scopes: Array(Set(scopes)).sorted(), createdAt: Date()
        )
        try await store.createUser(user)
        return user
    }

    public func users(tenant: TenantID) async throws -> [UserRecord] {
        try await store.users(tenant: tenant)
    }

    /// - Throws: `not_found`.
    public func deleteUser(tenant: TenantID, id: String) async throws {
        guard try await store.deleteUser(tenant: tenant, id: id, at: Date()) else { throw BespokeError.notFound("user") }
    }

    // MARK: Clients

    /// Creates an OAuth2 client of `tenant`: confidential (a service, with a secret returned
    /// once) or public (a browser application using PKCE).
    public func createClient(
        tenant: TenantID, name: String, confidential: Bool, scopes: [String], redirectURIs: [String]
    ) async throws -> (client: ClientRecord, secret: String?) {
        guard (1...100).contains(name.count) else { throw BespokeError(.invalidRequest, "name must be 1-100 characters") }
        if let unknown = scopes.first(where: { !knownScopes.contains($0) }) {
            throw BespokeError(.invalidRequest, "unknown scope '\(unknown)'")
        }
        guard !scopes.isEmpty else { throw BespokeError(.invalidRequest, "a client needs at least one scope") }
        for uri in redirectURIs {
            guard let url = URLComponents(string: uri), url.scheme == "https" || url.scheme == "http", url.host?.isEmpty == false,
                url.fragment == nil, !uri.contains(" ")
            else {
                throw BespokeError(.invalidRequest, "redirect URI '\(uri)' must be an absolute http(s) URL without fragment")
            }
        }
        guard confidential || !redirectURIs.isEmpty else {
            throw BespokeError(.invalidRequest, "a public client needs at least one redirect URI")
        }
        let secret = confidential ? OpaqueToken.generate(prefix: "cs_") : nil
        let client = ClientRecord(
            id: "cli_" + SecureRandom.hex(12), tenant: tenant, name: name, secretHash: secret.map(OpaqueToken.hash),
            scopes: Array(Set(scopes)).sorted(), redirectURIs: redirectURIs, createdAt: Date()
        )
        try await store.createClient(client)
        return (client, secret)
    }

    public func clients(tenant: TenantID) async throws -> [ClientRecord] {
        try await store.clients(tenant: tenant)
    }

    /// - Throws: `not_found`.
    public func deleteClient(tenant: TenantID, id: String) async throws {
        guard try await store.deleteClient(tenant: tenant, id: id, at: Date()) else { throw BespokeError.notFound("client") }
    }

    /// The first-party client of a product page that signs its tenant's users in through the
    /// authorization endpoint (the storefront): public (PKCE), returning to `redirectPath` on
    /// this server (a path: the browser stays on the same origin). Created on first use.
    public func firstPartyClient(tenant: TenantID, name: String, redirectPath: String, scopes: [String]) async throws -> ClientRecord {
        precondition(redirectPath.hasPrefix("/") && !redirectPath.hasPrefix("//"), "a first-party redirect is a path on this server")
        if let existing = try await store.clients(tenant: tenant).first(where: {
            $0.name == name && !$0.isConfidential && $0.redirectURIs == [redirectPath] && $0.scopes == scopes.sorted()
        }) {
            return existing
        }
        let client = ClientRecord(
            id: "cli_" + SecureRandom.hex(12), tenant: tenant, name: name, secretHash: nil, scopes: scopes.sorted(),
            redirectURIs: [redirectPath], createdAt: Date()
        )
        try await store.createClient(client)
        return client
    }

    // MARK: Verification

    /// The claims of a valid access token of this issuer, or nil: bad signature, unknown key,
    /// expired, another issuer or audience. Reads nothing from the store.
    public func verifyAccessToken(_ token: String) async -> AccessTokenClaims? {
        let now = Date()
        if let cached = verified.withLock({ $0[token] }) {
            if cached.exp.value > now { return cached }
            verified.withLock { _ = $0.removeValue(forKey: token) }
            return nil
        }
        guard let claims = try? await keys.verify(token, as: AccessTokenClaims.self), claims.iss.value == issuer,
            (try? TenantID(validating: claims.tenant)) != nil
        else { return nil }
        verified.withLock { cache in
            // Bounded: when full, start again (expired entries go with the rest).
            if cache.count >= Self.verifiedCacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[token] = claims
        }
        return claims
    }

    /// The claims of an access token this process has verified before and that has not expired,
    /// from memory only; nil when it has to be verified (``verifyAccessToken(_:)``).
    public func previouslyVerifiedAccessToken(_ token: String) -> AccessTokenClaims? {
        guard let cached = verified.withLock({ $0[token] }), cached.exp.value > Date() else { return nil }
        return cached
    }

    /// Rotates the signing key: the current key keeps verifying for one access-token lifetime.
    @discardableResult
    public func rotateSigningKey() async throws -> String {
        try await keys.rotate(overlap: configuration.accessTokenLifetime + .seconds(60))
    }

    // MARK: Issuing

    func issueAccessToken(tenant: TenantID, subject: String, client: ClientRecord, scopes: [String], kind: CallerKind, username: String?)
        async throws -> String
    {
        let now = Date.wholeSecond
        let claims = AccessTokenClaims(
            iss: IssuerClaim(value: issuer), sub: SubjectClaim(value: subject), aud: AudienceClaim(value: AccessTokenClaims.audience),
            exp: ExpirationClaim(value: now.addingTimeInterval(configuration.accessTokenLifetime.seconds)),
            iat: IssuedAtClaim(value: now), jti: IDClaim(value: SecureRandom.hex(16)), tenant: tenant.rawValue,
            scope: scopes.joined(separator: " "), clientID: client.id, kind: kind, preferredUsername: username
        )
        return try await keys.sign(claims)
    }
}

extension Date {
    /// Now, without the fraction of a second: JWT times are whole seconds (NumericDate), and
    /// verifiers compare them with their clock's whole seconds.
    static var wholeSecond: Date { Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)) }
}

extension Duration {
    /// The duration in seconds, fractions included.
    var seconds: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
