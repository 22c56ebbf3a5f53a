import BespokeCore
import BespokeIdentity
import Foundation
import Hummingbird
import Mustache
import NIOCore

/// The authorization server's HTTP face: OpenID Connect discovery, the JWKS, the token,
/// authorization (a login page), revocation and userinfo endpoints.
struct OAuthController {
    let identity: IdentityService
    let library: MustacheLibrary

    func addRoutes(to router: Router<BespokeRequestContext>, authenticated: RouterGroup<BespokeRequestContext>) {
        router.get(".well-known/openid-configuration", use: discovery)
        router.get("oauth/jwks.json", use: jwks)
        router.post("oauth/token", use: token)
        router.post("oauth/revoke", use: revoke)
        router.get("oauth/authorize", use: authorizePage)
        router.post("oauth/authorize", use: signIn)
        authenticated.get("oauth/userinfo", use: userinfo)
    }

    @Sendable func discovery(_ request: Request, context: BespokeRequestContext) async throws -> Response {
        let issuer = identity.issuer
        let document: [String: JSONValue] = [
            "issuer": .string(issuer),
            "authorization_endpoint": .string(issuer + "/oauth/authorize"),
            "token_endpoint": .string(issuer + "/oauth/token"),
            "jwks_uri": .string(issuer + "/oauth/jwks.json"),
            "userinfo_endpoint": .string(issuer + "/oauth/userinfo"),
            "revocation_endpoint": .string(issuer + "/oauth/revoke"),
            "response_types_supported": .array([.string("code")]),
            "grant_types_supported": .array(["authorization_code", "client_credentials", "refresh_token"].map(JSONValue.string)),
            "subject_types_supported": .array([.string("public")]),
            "id_token_signing_alg_values_supported": .array([.string("ES256")]),
            "code_challenge_methods_supported": .array([.string("S256")]),
            "token_endpoint_auth_methods_supported": .array(["client_secret_basic", "client_secret_post", "none"].map(JSONValue.string)),
            "revocation_endpoint_auth_methods_supported": .array(["client_secret_basic", "client_secret_post", "none"].map(JSONValue.string)),
            "scopes_supported": .array(identity.knownScopes.sorted().map(JSONValue.string)),
            "claims_supported": .array(["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "tenant", "preferred_username"].map(JSONValue.string)),
        ]
        return try JSONBody.response(JSONValue.object(document))
    }

    @Sendable func jwks(_ request: Request, context: BespokeRequestContext) async throws -> Response {
        let keys = identity.keys.publishedKeys.map { key in
            JSONValue.object([
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": .string(key.kid), "x": .string(key.x), "y": .string(key.y),
            ])
        }
        var response = try JSONBody.response(JSONValue.object(["keys": .array(keys)]))
        response.headers[.cacheControl] = "public, max-age=300"
        return response
    }

    @Sendable func token(_ request: Request, context: BespokeRequestContext) async throws -> Response {
        do {
            let form = try await FormBody.fields(request)
            let answer = try await identity.token(form: form, basic: try Self.basicCredentials(request))
            var response = try JSONBody.response(answer)
            response.headers[.cacheControl] = "no-store"
            return response
        } catch let error as OAuthError {
            return try Self.oauthError(error)
        }
    }

    @Sendable func revoke(_ request: Request, context: BespokeRequestContext) async throws -> Response {
        do {
            let form = try await FormBody.fields(request)
            guard let token = form["token"] else { throw OAuthError.invalidRequest("token is required") }
            try await identity.revoke(token: token, form: form, basic: try Self.basicCredentials(request))
            return Response(status: .ok, headers: [.cacheControl: "no-store"])
        } catch let error as OAuthError {
            return try Self.oauthError(error)
        }
    }

    @Sendable func userinfo(_ request: Request, context: BespokeRequestContext) async throws -> Response {
        guard case .token(let token) = context.caller, token.kind == .user else {
            throw BespokeError(.unauthorized, "a user's access token is required")
        }
        var claims: [String: JSONValue] = ["sub": .string(token.subject), "tenant": .string(token.tenant.rawValue)]
        if let username = token.username { claims["preferred_username"] = .string(username) }
        return try JSONBody.response(JSONValue.object(claims))
    }

    @Sendable func authorizePage(_ request: Request, context: BespokeRequestContext) async throws -> Response {
        // Form encoding: `+` is a space (`scope=openid+shop`).
        let query = FormBody.parse(request.uri.query ?? "")
        do {
            let authorization = try await identity.validateAuthorization(query)
            return try page(for: authorization, form: try identity.loginForm(for: authorization), error: nil, username: "")
        } catch let error as AuthorizationError {
            return try respond(to: error)
        }
    }

    @Sendable func signIn(_ request: Request, context: BespokeRequestContext) async throws -> Response {
        let fields = try await FormBody.fields(request)
        let form = fields["request"] ?? ""
        do {
            let authorization = try identity.authorizationRequest(fromForm: form)
            do {
                let location = try await identity.login(authorization, username: fields["username"] ?? "", password: fields["password"] ?? "")
                context.logger.info("user signed in", metadata: ["tenant": "\(authorization.tenant)", "client": "\(authorization.clientID)"])
                return Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
            } catch AuthorizationError.badCredentials {
                var response = try page(
                    for: authorization, form: try identity.loginForm(for: authorization), error: "Wrong username or password.",
                    username: fields["username"] ?? ""
                )
                response.status = .unauthorized
                return response
            }
        } catch let error as AuthorizationError {
            return try respond(to: error)
        }
    }

    private func respond(to error: AuthorizationError) throws -> Response {
        switch error {
        case .redirect(let location):
            return Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
        case .page(let message):
            return try html(["error": message], status: .badRequest)
        case .badCredentials:
            return try html(["error": "Wrong username or password."], status: .unauthorized)
        }
    }

    private func page(for authorization: AuthorizationRequest, form: String, error: String?, username: String) throws -> Response {
        var view: [String: String] = [
            "clientName": authorization.clientName, "tenant": authorization.tenant.rawValue, "form": form, "username": username,
        ]
        view["error"] = error
        return try html(view, status: .ok)
    }

    private func html(_ view: [String: String], status: HTTPResponse.Status) throws -> Response {
        guard let body = library.render(view, withTemplate: "login") else {
            throw BespokeError(.storageFailure, "the login page cannot be rendered")
        }
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }

    /// `Authorization: Basic` client credentials (each part form-urlencoded, RFC 6749 §2.3.1).
    static func basicCredentials(_ request: Request) throws -> (id: String, secret: String)? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("basic ") else { return nil }
        guard let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":"),
            let id = FormBody.decode(text[..<colon]), let secret = FormBody.decode(text[text.index(after: colon)...])
        else { throw OAuthError.invalidClient("the basic credentials are malformed") }
        return (id, secret)
    }

    static func oauthError(_ error: OAuthError) throws -> Response {
        var response = try JSONBody.response(
            JSONValue.object(["error": .string(error.code), "error_description": .string(error.message)]),
            status: HTTPResponse.Status(code: error.status)
        )
        response.headers[.cacheControl] = "no-store"
        if error.status == 401 { response.headers[.wwwAuthenticate] = "Basic realm=\"bespoke\"" }
        return response
    }
}
