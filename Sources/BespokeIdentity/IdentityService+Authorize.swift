import BespokeCore
import BespokeStorage
import Foundation

extension IdentityService {
    /// Checks a request to the authorization endpoint. Only `response_type=code` with PKCE
    /// (`S256`) is accepted, for a registered client and one of its exact redirect URIs.
    /// - Throws: ``AuthorizationError``.
    public func validateAuthorization(_ query: [String: String]) async throws -> AuthorizationRequest {
        guard let clientID = query["client_id"], let client = try await store.client(id: clientID) else {
            throw AuthorizationError.page("The application asking you to sign in is not known.")
        }
        let redirectURI: String
        if let given = query["redirect_uri"] {
            guard client.redirectURIs.contains(given) else {
                throw AuthorizationError.page("The application's return address is not registered.")
            }
            redirectURI = given
        } else if client.redirectURIs.count == 1 {
            redirectURI = client.redirectURIs[0]
        } else {
            throw AuthorizationError.page("The application did not say where to return.")
        }
        guard isActive(client.tenant) else { throw AuthorizationError.page("This shop is not available.") }
        let state = query["state"]
        guard (state?.utf8.count ?? 0) <= 512, (query["nonce"]?.utf8.count ?? 0) <= 512 else {
            throw AuthorizationError.page("The application's request is too long.")
        }
        func fail(_ error: String, _ description: String) -> AuthorizationError {
            var parameters = [("error", error), ("error_description", description)]
            if let state { parameters.append(("state", state)) }
            return .redirect(AuthorizationRequest.url(redirectURI, adding: parameters))
        }
        guard query["response_type"] == "code" else {
            throw fail("unsupported_response_type", "only response_type=code is supported")
        }
        guard let challenge = query["code_challenge"], challenge.count == 43, query["code_challenge_method"] == "S256" else {
            throw fail("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
        }
        let scopes: [String]
        do {
            scopes = try Self.requestedScopes(query["scope"], allowed: client.scopes, default: client.scopes)
        } catch let error as OAuthError {
            throw fail(error.code, error.message)
        }
        return AuthorizationRequest(
            clientID: client.id, tenant: client.tenant, clientName: client.name, redirectURI: redirectURI, scopes: scopes,
            state: state, codeChallenge: challenge, nonce: query["nonce"]
        )
    }

    /// The validated request, signed and dated, for the login form to post back.
    public func loginForm(for request: AuthorizationRequest) throws -> String {
        try formSealer.seal(
            LoginForm(request: request, expires: Date().addingTimeInterval(configuration.loginFormLifetime.seconds).timeIntervalSince1970)
        )
    }

    /// The request a login form carries, when its signature holds and it has not expired.
    public func authorizationRequest(fromForm token: String) throws -> AuthorizationRequest {
        guard let form = formSealer.open(token, as: LoginForm.self) else { throw AuthorizationError.page("The sign-in form is not valid. Start again from the application.") }
        guard form.expires > Date().timeIntervalSince1970 else {
            throw AuthorizationError.page("The sign-in form expired. Start again from the application.")
        }
        return form.request
    }

    /// Signs a user of the request's tenant in and returns where to send the browser: the
    /// client's redirect URI with a single-use code.
    /// - Throws: ``AuthorizationError/badCredentials`` for an unknown user or wrong password.
    public func login(_ request: AuthorizationRequest, username: String, password: String) async throws -> String {
        guard isActive(request.tenant) else { throw AuthorizationError.page("This shop is not available.") }
        let user = try await store.user(tenant: request.tenant, username: username)
        let hash: String
        if let user { hash = user.passwordHash } else { hash = await decoyHash() }
        let matches = await hasher.verify(password, hash: hash)
        guard let user, matches else { throw AuthorizationError.badCredentials }
        let granted = request.scopes.filter { !apiScopes.contains($0) || user.scopes.contains($0) }
        let code = OpaqueToken.generate(prefix: "ac_")
        let now = Date()
        try await store.insertAuthorizationCode(
            AuthorizationCodeRecord(
                codeHash: OpaqueToken.hash(code), tenant: request.tenant, clientID: request.clientID, userID: user.id,
                redirectURI: request.redirectURI, scopes: granted, codeChallenge: request.codeChallenge, nonce: request.nonce,
                authTime: now, expiresAt: now.addingTimeInterval(configuration.authorizationCodeLifetime.seconds)
            )
        )
        return request.redirect(with: [("code", code)])
    }
}

/// What the login page's hidden field carries.
struct LoginForm: Codable {
    let request: AuthorizationRequest
    let expires: Double
}
