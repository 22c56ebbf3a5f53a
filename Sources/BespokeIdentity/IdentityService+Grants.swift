import BespokeCore
import BespokeStorage
import Crypto
import Foundation
import JWTKit

extension IdentityService {
    /// The token endpoint: authenticates the client, then runs the grant the form names.
    /// - Parameter basic: the client id and secret from `Authorization: Basic`, if sent.
    /// - Throws: ``OAuthError``.
    public func token(form: [String: String], basic: (id: String, secret: String)?) async throws -> TokenResponse {
        guard let grant = form["grant_type"], !grant.isEmpty else { throw OAuthError.invalidRequest("grant_type is required") }
        let client = try await authenticateClient(form: form, basic: basic)
        guard isActive(client.tenant) else { throw OAuthError.unauthorizedClient("the client's tenant is suspended") }
        switch grant {
        case "client_credentials": return try await clientCredentials(client: client, form: form)
        case "authorization_code": return try await authorizationCode(client: client, form: form)
        case "refresh_token": return try await refresh(client: client, form: form)
        default: throw OAuthError("unsupported_grant_type", "grant_type '\(grant)' is not supported")
        }
    }

    /// Revokes a refresh token (and the tokens rotated from the same sign-in) of the
    /// authenticated client (RFC 7009). Access tokens are short-lived and not revocable one by
    /// one; like unknown tokens they are answered with success.
    public func revoke(token: String, form: [String: String], basic: (id: String, secret: String)?) async throws {
        let client = try await authenticateClient(form: form, basic: basic)
        guard let record = try await store.refreshToken(hash: OpaqueToken.hash(token), at: Date()), record.clientID == client.id else { return }
        try await store.revokeRefreshFamily(tenant: record.tenant, familyID: record.familyID, at: Date())
    }

    /// The client named by the form or the basic credentials, its secret checked when it has one.
    func authenticateClient(form: [String: String], basic: (id: String, secret: String)?) async throws -> ClientRecord {
        var id = form["client_id"]
        var secret = form["client_secret"]
        if let basic {
            guard id == nil || id == basic.id else { throw OAuthError.invalidRequest("client_id differs from the basic credentials") }
            id = basic.id
            secret = basic.secret
        }
        guard let id, !id.isEmpty else { throw OAuthError.invalidClient("client_id is required") }
        guard let client = try await store.client(id: id) else { throw OAuthError.invalidClient() }
        if let expected = client.secretHash {
            guard let secret, Self.constantTimeEqual(OpaqueToken.hash(secret), expected) else { throw OAuthError.invalidClient() }
        }
        return client
    }

    private func clientCredentials(client: ClientRecord, form: [String: String]) async throws -> TokenResponse {
        guard client.isConfidential else {
            throw OAuthError.unauthorizedClient("a public client cannot use client_credentials")
        }
        let granted = client.scopes.filter { self.apiScopes.contains($0) }
        let scopes = try Self.requestedScopes(form["scope"], allowed: granted, default: granted)
        let access = try await issueAccessToken(
            tenant: client.tenant, subject: client.id, client: client, scopes: scopes, kind: .service, username: nil
        )
        return TokenResponse(
            accessToken: access, tokenType: "Bearer", expiresIn: Int(configuration.accessTokenLifetime.seconds),
            scope: scopes.joined(separator: " "), refreshToken: nil, idToken: nil
        )
    }

    private func authorizationCode(client: ClientRecord, form: [String: String]) async throws -> TokenResponse {
        guard let code = form["code"], let redirectURI = form["redirect_uri"], let verifier = form["code_verifier"] else {
            throw OAuthError.invalidRequest("code, redirect_uri and code_verifier are required")
        }
        guard let record = try await store.consumeAuthorizationCode(hash: OpaqueToken.hash(code), at: Date()) else {
            throw OAuthError.invalidGrant("the code is unknown, expired or already used")
        }
        guard record.clientID == client.id, record.redirectURI == redirectURI else {
            throw OAuthError.invalidGrant("the code was issued to another client or redirect URI")
        }
        guard PKCE.isValidVerifier(verifier), PKCE.challenge(for: verifier) == record.codeChallenge else {
            throw OAuthError.invalidGrant("code_verifier does not match the code challenge")
        }
        guard let user = try await store.user(tenant: record.tenant, id: record.userID) else {
            throw OAuthError.invalidGrant("the user no longer exists")
        }
        return try await userTokens(
            user: user, client: client, scopes: record.scopes, familyID: "fam_" + SecureRandom.hex(12),
            nonce: record.nonce, authTime: record.authTime
        )
    }

    private func refresh(client: ClientRecord, form: [String: String]) async throws -> TokenResponse {
        guard let token = form["refresh_token"] else { throw OAuthError.invalidRequest("refresh_token is required") }
        let hash = OpaqueToken.hash(token)
        guard let current = try await store.refreshToken(hash: hash, at: Date()), current.clientID == client.id else {
            throw OAuthError.invalidGrant("the refresh token is unknown, expired or not this client's")
        }
        let scopes = try Self.requestedScopes(form["scope"], allowed: current.scopes, default: current.scopes)
        guard let user = try await store.user(tenant: current.tenant, id: current.userID) else {
            throw OAuthError.invalidGrant("the user no longer exists")
        }
        let next = OpaqueToken.generate(prefix: "rt_")
        let replacement = RefreshTokenRecord(
            tokenHash: OpaqueToken.hash(next), tenant: current.tenant, clientID: client.id, userID: user.id, scopes: current.scopes,
            familyID: current.familyID, expiresAt: Date().addingTimeInterval(configuration.refreshTokenLifetime.seconds)
        )
        switch try await store.rotateRefreshToken(hash: hash, replacement: replacement, at: Date()) {
        case .rotated:
            return try await userTokens(user: user, client: client, scopes: scopes, refreshToken: next, nonce: nil, authTime: nil)
        case .reused:
            throw OAuthError.invalidGrant("the refresh token was already used; every token of this sign-in is revoked")
        case .invalid:
            throw OAuthError.invalidGrant("the refresh token is unknown or expired")
        }
    }

    /// Access, refresh and (with `openid`) ID tokens for a signed-in user. A new sign-in starts
    /// a refresh family; a refresh passes the already stored replacement.
    private func userTokens(
        user: UserRecord, client: ClientRecord, scopes: [String], familyID: String? = nil, refreshToken: String? = nil,
        nonce: String?, authTime: Date?
    ) async throws -> TokenResponse {
        var refresh = refreshToken
        if let familyID {
            let token = OpaqueToken.generate(prefix: "rt_")
            try await store.insertRefreshToken(
                RefreshTokenRecord(
                    tokenHash: OpaqueToken.hash(token), tenant: user.tenant, clientID: client.id, userID: user.id, scopes: scopes,
                    familyID: familyID, expiresAt: Date().addingTimeInterval(configuration.refreshTokenLifetime.seconds)
                )
            )
            refresh = token
        }
        let tokenScopes = scopes.filter { self.apiScopes.contains($0) }
        let access = try await issueAccessToken(
            tenant: user.tenant, subject: user.id, client: client, scopes: tokenScopes, kind: .user, username: user.username
        )
        var idToken: String?
        if scopes.contains(Scope.openID) {
            let now = Date.wholeSecond
            idToken = try await keys.sign(
                IDTokenClaims(
                    iss: IssuerClaim(value: issuer), sub: SubjectClaim(value: user.id), aud: AudienceClaim(value: client.id),
                    exp: ExpirationClaim(value: now.addingTimeInterval(configuration.accessTokenLifetime.seconds)),
                    iat: IssuedAtClaim(value: now), authTime: Int((authTime ?? now).timeIntervalSince1970), nonce: nonce,
                    tenant: user.tenant.rawValue, preferredUsername: user.username
                )
            )
        }
        return TokenResponse(
            accessToken: access, tokenType: "Bearer", expiresIn: Int(configuration.accessTokenLifetime.seconds),
            scope: scopes.joined(separator: " "), refreshToken: refresh, idToken: idToken
        )
    }

    /// The scopes a request asks for (space-separated), each one allowed; `default` when none.
    static func requestedScopes(_ requested: String?, allowed: [String], default defaults: [String]) throws -> [String] {
        guard let requested, !requested.trimmingCharacters(in: .whitespaces).isEmpty else { return defaults }
        let scopes = requested.split(separator: " ").map(String.init)
        if let refused = scopes.first(where: { !allowed.contains($0) }) {
            throw OAuthError.invalidScope("scope '\(refused)' is not granted to this client")
        }
        return Array(Set(scopes)).sorted()
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Proof Key for Code Exchange (RFC 7636), S256 only.
public enum PKCE {
    /// `BASE64URL(SHA256(verifier))`.
    public static func challenge(for verifier: String) -> String {
        Base64URL.encode(SHA256.hash(data: Data(verifier.utf8)))
    }

    /// 43 to 128 unreserved characters.
    public static func isValidVerifier(_ verifier: String) -> Bool {
        (43...128).contains(verifier.count) && verifier.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._~".contains($0)) }
    }
}
