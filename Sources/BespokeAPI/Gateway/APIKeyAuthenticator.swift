public import BespokeCore
public import BespokeStorage
public import BespokeIdentity
import Crypto
import Foundation
public import Hummingbird
import Synchronization

/// Authenticates `Authorization: Bearer` credentials: tenant API keys (`bk_...`) and the
/// operator's admin token. Keys are looked up by the SHA-256 of the secret, from memory after
/// the first use; a key revoked through the API is dropped from memory at once.
public final class APIKeyAuthenticator: Sendable {
    private let store: any APIKeyStore
    private let adminTokenHash: [UInt8]
    /// Keys by secret hash, and a count of revocations: a lookup that raced a revocation is
    /// not cached.
    private let cache = Mutex<(keys: [String: APIKeyRecord], revocations: Int)>(([:], 0))

    public init(store: any APIKeyStore, adminToken: String) {
        self.store = store
        self.adminTokenHash = Array(SHA256.hash(data: Data(adminToken.utf8)))
    }

    /// Resolves a bearer secret to a caller, or nil when it is unknown or revoked.
    public func authenticate(bearer secret: String) async throws -> Caller? {
        if secret.hasPrefix(APIKeySecret.prefix) {
            let hash = APIKeySecret.hash(secret)
            let (cached, revocations) = cache.withLock { ($0.keys[hash], $0.revocations) }
            if let cached {
                return Caller.tenantKey(tenant: cached.tenant, keyID: cached.id)
            }
            guard let record = try await store.apiKey(secretHash: hash), record.revokedAt == nil else { return nil }
            let current = cache.withLock { cache in
                guard cache.revocations == revocations else { return false }
                cache.keys[hash] = record
                return true
            }
            // A revocation happened during the lookup: read again rather than trust it.
            if !current { return try await authenticate(bearer: secret) }
            return .tenantKey(tenant: record.tenant, keyID: record.id)
        }
        // Compare digests, so the comparison takes the same time wherever the token differs.
        return Array(SHA256.hash(data: Data(secret.utf8))) == adminTokenHash ? .admin : nil
    }

    /// The caller of a tenant API key this process has already looked up, from memory only;
    /// nil for any other secret (the admin token included) or a key not seen yet.
    public func cachedCaller(bearer secret: String) -> Caller? {
        guard secret.hasPrefix(APIKeySecret.prefix) else { return nil }
        let hash = APIKeySecret.hash(secret)
        return cache.withLock { $0.keys[hash] }.map { .tenantKey(tenant: $0.tenant, keyID: $0.id) }
    }

    /// Issues a new key for `tenant`. The secret is returned once and never stored.
    public func issueKey(for tenant: TenantID) async throws -> (record: APIKeyRecord, secret: String) {
        try await Self.issueKey(for: tenant, in: store)
    }

    /// Issues a new key for `tenant` into `store` (also where no server runs, as in the CLI).
    public static func issueKey(for tenant: TenantID, in store: any APIKeyStore) async throws -> (record: APIKeyRecord, secret: String) {
        let secret = APIKeySecret.generate()
        let record = APIKeyRecord(id: APIKeySecret.generateID(), tenant: tenant, secretHash: APIKeySecret.hash(secret), createdAt: Date())
        try await store.insertAPIKey(record)
        return (record, secret)
    }

    /// Drops a deleted tenant's keys from memory.
    public func forget(tenant: TenantID) {
        cache.withLock { cache in
            cache.keys = cache.keys.filter { $0.value.tenant != tenant }
            cache.revocations += 1
        }
    }

    /// How many unrevoked keys the tenant has.
    public func activeKeyCount(tenant: TenantID) async throws -> Int {
        try await store.apiKeys(tenant: tenant).filter { $0.revokedAt == nil }.count
    }

    /// Revokes a key of `tenant`. - Throws: `not_found`.
    public func revokeKey(tenant: TenantID, id: String) async throws {
        guard try await store.revokeAPIKey(tenant: tenant, id: id, at: Date()) else {
            throw BespokeError.notFound("API key")
        }
        cache.withLock { cache in
            cache.keys = cache.keys.filter { $0.value.id != id }
            cache.revocations += 1
        }
    }
}

/// The shape of tenant API key secrets: `bk_` and 32 random bytes, base64url.
enum APIKeySecret {
    static let prefix = "bk_"

    static func generate() -> String { OpaqueToken.generate(prefix: prefix) }

    static func generateID() -> String { OpaqueToken.generate(prefix: "key_", bytes: 9) }

    static func hash(_ secret: String) -> String { OpaqueToken.hash(secret) }
}

/// Sets ``BespokeRequestContext/caller`` from the `Authorization: Bearer` header: an access
/// token (a JWT, verified from the in-memory signing keys), a tenant API key, or the admin token.
/// Requests without credentials pass through unauthenticated; the route's context decides
/// whether that is allowed.
///
/// A suspended tenant's credentials are refused with `403 tenant_suspended` (from the
/// in-memory index; no store read per request).
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = BespokeRequestContext
    let authenticator: APIKeyAuthenticator
    let identity: IdentityService?
    let isSuspended: @Sendable (TenantID) -> Bool

    public init(
        authenticator: APIKeyAuthenticator, identity: IdentityService? = nil,
        isSuspended: @escaping @Sendable (TenantID) -> Bool = { _ in false }
    ) {
        self.authenticator = authenticator
        self.identity = identity
        self.isSuspended = isSuspended
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        guard let bearer = Self.bearerCredentials(header), let caller = try await caller(bearer: bearer) else {
            throw BespokeError(.unauthorized, "the credentials are not valid")
        }
        if let tenant = caller.tenant, isSuspended(tenant) {
            throw BespokeError(.tenantSuspended, "tenant '\(tenant)' is suspended; ask the operator to reinstate it")
        }
        var context = context
        context.caller = caller
        return try await next(request, context)
    }

    private func caller(bearer: String) async throws -> Caller? {
        if let identity, Self.isJWT(bearer) {
            return await identity.verifyAccessToken(bearer).flatMap(Caller.init(claims:))
        }
        return try await authenticator.authenticate(bearer: bearer)
    }

    /// The credentials of an `Authorization` header of the `Bearer` scheme (any case), without
    /// the spaces and tabs around them; nil for another scheme or none.
    ///
    /// Works on the UTF-8 view: Foundation's `trimmingCharacters(in:)` goes through UTF-16 and
    /// was a tenth of the gateway's time per request.
    public static func bearerCredentials(_ header: String) -> String? {
        let utf8 = header.utf8
        guard let space = utf8.firstIndex(of: UInt8(ascii: " ")), utf8.distance(from: utf8.startIndex, to: space) == 6,
            utf8[..<space].elementsEqual("bearer".utf8, by: { $0 | 0x20 == $1 })
        else { return nil }
        func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var credentials = utf8[utf8.index(after: space)...]
        while let first = credentials.first, isBlank(first) { credentials = credentials.dropFirst() }
        while let last = credentials.last, isBlank(last) { credentials = credentials.dropLast() }
        guard !credentials.isEmpty else { return nil }
        return String(Substring(credentials))
    }

    /// Whether a bearer credential has the shape of a JWT (three dot-separated parts); keys and
    /// the admin token have none.
    static func isJWT(_ bearer: String) -> Bool {
        var dots = 0
        for byte in bearer.utf8 where byte == UInt8(ascii: ".") { dots += 1 }
        return dots == 2
    }
}

extension Caller {
    /// The caller an access token's verified claims describe; nil when the tenant is malformed.
    init?(claims: AccessTokenClaims) {
        guard let tenant = try? TenantID(validating: claims.tenant) else { return nil }
        self = .token(
            TokenCaller(
                tenant: tenant, subject: claims.sub.value, scopes: Set(claims.scopes), kind: claims.kind, clientID: claims.clientID,
                username: claims.preferredUsername
            )
        )
    }
}
