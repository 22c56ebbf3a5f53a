import BespokeCore
import BespokeIdentity
import BespokeServer
import BespokeTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The authorization server and the gateway's token checks, over HTTP.
@Suite("Identity: OAuth2 grants and access tokens")
struct IdentityTests {
    @Test func aServiceTokenFromClientCredentialsActsWithinItsTenantAndScopes() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let service = try await client.createClient(fixture, tenant: "acme", scopes: ["events:publish"])
            let token = try await client.clientCredentials(service)
            #expect(token.json["token_type"] as? String == "Bearer")
            #expect(token.json["scope"] as? String == "events:publish")
            let access = try #require(token.json["access_token"] as? String)

            let published = try await client.call(.post, "/v1/tenants/acme/events", token: access, json: cloudEvent("e1"))
            #expect(published.status == .created || published.status == .ok, "\(published.text)")
            // Another tenant's routes: 404, as if it did not exist.
            let foreign = try await client.call(.post, "/v1/tenants/globex/events", token: access, json: cloudEvent("e2"))
            #expect(foreign.status == .notFound)
            // A route the token has no scope for.
            let pull = try await client.call(.get, "/v1/tenants/acme/subscriptions", token: access)
            #expect(pull.status == .forbidden)
            #expect(pull.errorCode == "insufficient_scope")
            #expect(pull.headers[.wwwAuthenticate]?.contains("insufficient_scope") == true)

            // A scope the client was not given cannot be asked for.
            let tooMuch = try await client.clientCredentials(service, scope: "events:consume")
            #expect(tooMuch.status == .badRequest)
            #expect(tooMuch.json["error"] as? String == "invalid_scope")
            // A wrong secret.
            let wrong = try await client.clientCredentials((service.id, "cs_wrong"))
            #expect(wrong.status == .unauthorized)
            #expect(wrong.json["error"] as? String == "invalid_client")
        }
    }

    @Test func tamperedExpiredAndForeignKeyTokensAreRefused() async throws {
        let fixture = try await APIFixture.make { $0.identity.accessTokenLifetime = .seconds(1) }
        let other = try await APIFixture.make()
        let foreignToken = try await other.test { client in
            let service = try await client.createClient(other, tenant: "acme", scopes: ["events:publish"])
            return try #require(try await client.clientCredentials(service).json["access_token"] as? String)
        }
        try await fixture.test { client in
            let service = try await client.createClient(fixture, tenant: "acme", scopes: ["events:publish"])
            let access = try #require(try await client.clientCredentials(service).json["access_token"] as? String)
            #expect(try await client.call(.post, "/v1/tenants/acme/events", token: access, json: cloudEvent("ok")).status != .unauthorized)

            // Change the tenant in the payload, keep the signature.
            var parts = access.split(separator: ".").map(String.init)
            let payload = try #require(Base64URL.decode(parts[1]))
            var claims = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
            claims["tenant"] = "globex"
            parts[1] = Base64URL.encode(try JSONSerialization.data(withJSONObject: claims))
            let tampered = parts.joined(separator: ".")
            let refused = try await client.call(.post, "/v1/tenants/globex/events", token: tampered, json: cloudEvent("t"))
            #expect(refused.status == .unauthorized)
            #expect(refused.errorCode == "unauthorized")

            // Signed by another platform's key (same issuer name, same kid shape): unknown key.
            #expect(try await client.call(.post, "/v1/tenants/acme/events", token: foreignToken, json: cloudEvent("f")).status == .unauthorized)

            // Expired.
            try await Task.sleep(for: .milliseconds(2_100))
            #expect(try await client.call(.post, "/v1/tenants/acme/events", token: access, json: cloudEvent("x")).status == .unauthorized)
        }
    }

    @Test func keyRotationKeepsOldTokensValidAndPublishesBothKeys() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let service = try await client.createClient(fixture, tenant: "acme", scopes: ["events:publish"])
            let before = try #require(try await client.clientCredentials(service).json["access_token"] as? String)
            let rotated = try await client.call(.post, "/v1/admin/signing-keys/rotate", token: fixture.adminToken)
            #expect(rotated.status == .created)
            let newKID = try #require(rotated.json["kid"] as? String)
            let after = try #require(try await client.clientCredentials(service).json["access_token"] as? String)
            #expect(Self.kid(after) == newKID)
            #expect(Self.kid(before) != newKID)
            let jwks = try await client.call(.get, "/oauth/jwks.json", token: nil)
            let kids = (jwks.json["keys"] as? [[String: Any]] ?? []).compactMap { $0["kid"] as? String }
            #expect(Set(kids) == [newKID, try #require(Self.kid(before))])
            for token in [before, after] {
                #expect(try await client.call(.post, "/v1/tenants/acme/events", token: token, json: cloudEvent(UUID().uuidString)).status != .unauthorized)
            }
            // The operator's route only.
            #expect(try await client.call(.post, "/v1/admin/signing-keys/rotate", token: fixture.acmeKey).status == .unauthorized)
        }
    }

    @Test func authorizationCodeWithPKCEThenRefreshRotationAndReuseDetection() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let user = try await client.call(
                .post, "/v1/tenants/acme/users", token: fixture.acmeKey, json: #"{"username":"alice","password":"correct horse","scopes":["shop"]}"#
            )
            #expect(user.status == .created, "\(user.text)")
            let app = try await client.createClient(
                fixture, tenant: "acme", scopes: ["openid", "shop", "shop:admin"], kind: "browser", redirect: "http://127.0.0.1:9/callback"
            )
            let verifier = OpaqueToken.generate(prefix: "", bytes: 40)
            let query = [
                "response_type=code", "client_id=\(app.id)", "redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback",
                "scope=openid%20shop%20shop%3Aadmin", "state=s123", "nonce=n456", "code_challenge=\(PKCE.challenge(for: verifier))",
                "code_challenge_method=S256",
            ].joined(separator: "&")
            let page = try await client.call(.get, "/oauth/authorize?" + query, token: nil)
            #expect(page.status == .ok)
            let form = try #require(LoginPage.formToken(in: page.text))

            let wrong = try await client.form(.post, "/oauth/authorize", ["request": form, "username": "alice", "password": "wrong password"])
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("Wrong username or password"))
            // Another tenant's user cannot sign in to acme's client.
            _ = try await client.call(.post, "/v1/tenants/globex/users", token: fixture.globexKey, json: #"{"username":"gary","password":"globex password"}"#)
            #expect(try await client.form(.post, "/oauth/authorize", ["request": form, "username": "gary", "password": "globex password"]).status == .unauthorized)

            let signedIn = try await client.form(.post, "/oauth/authorize", ["request": form, "username": "alice", "password": "correct horse"])
            #expect(signedIn.status == .seeOther)
            let location = try #require(signedIn.headers[.location])
            let components = try #require(URLComponents(string: location))
            #expect(components.path == "/callback")
            #expect(components.queryItems?.first { $0.name == "state" }?.value == "s123")
            let code = try #require(components.queryItems?.first { $0.name == "code" }?.value)

            let badVerifier = try await client.form(.post, "/oauth/token", [
                "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/callback", "client_id": app.id,
                "code_verifier": OpaqueToken.generate(prefix: "", bytes: 40),
            ])
            #expect(badVerifier.json["error"] as? String == "invalid_grant")
            // The failed exchange used the code up: a code is good for one attempt only.
            let exchange = try await client.form(.post, "/oauth/token", [
                "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/callback", "client_id": app.id,
                "code_verifier": verifier,
            ])
            #expect(exchange.json["error"] as? String == "invalid_grant")

            // A fresh sign-in, exchanged properly.
            let again = try await client.form(.post, "/oauth/authorize", ["request": form, "username": "alice", "password": "correct horse"])
            let code2 = try #require(Self.code(again.headers[.location]))
            let tokens = try await client.form(.post, "/oauth/token", [
                "grant_type": "authorization_code", "code": code2, "redirect_uri": "http://127.0.0.1:9/callback", "client_id": app.id,
                "code_verifier": verifier,
            ])
            #expect(tokens.status == .ok, "\(tokens.text)")
            // The user has `shop` only: `shop:admin` is not granted even though the client may ask.
            #expect(tokens.json["scope"] as? String == "openid shop")
            let access = try #require(tokens.json["access_token"] as? String)
            let idToken = try #require(tokens.json["id_token"] as? String)
            let idPayload = try #require(Base64URL.decode(idToken.split(separator: ".")[1]))
            let idClaims = try #require(try JSONSerialization.jsonObject(with: idPayload) as? [String: Any])
            #expect(idClaims["aud"] as? String == app.id || (idClaims["aud"] as? [String]) == [app.id])
            #expect(idClaims["nonce"] as? String == "n456")
            #expect(idClaims["preferred_username"] as? String == "alice")
            let info = try await client.call(.get, "/oauth/userinfo", token: access)
            #expect(info.json["preferred_username"] as? String == "alice")
            #expect(info.json["tenant"] as? String == "acme")

            // Refresh rotates; presenting the old refresh token again revokes the whole sign-in.
            let refresh1 = try #require(tokens.json["refresh_token"] as? String)
            let rotated = try await client.form(.post, "/oauth/token", ["grant_type": "refresh_token", "refresh_token": refresh1, "client_id": app.id])
            #expect(rotated.status == .ok)
            let refresh2 = try #require(rotated.json["refresh_token"] as? String)
            #expect(refresh2 != refresh1)
            let reused = try await client.form(.post, "/oauth/token", ["grant_type": "refresh_token", "refresh_token": refresh1, "client_id": app.id])
            #expect(reused.json["error"] as? String == "invalid_grant")
            let afterReuse = try await client.form(.post, "/oauth/token", ["grant_type": "refresh_token", "refresh_token": refresh2, "client_id": app.id])
            #expect(afterReuse.json["error"] as? String == "invalid_grant")
        }
    }

    @Test func revokingARefreshTokenEndsTheSignIn() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            _ = try await client.call(.post, "/v1/tenants/acme/users", token: fixture.acmeKey, json: #"{"username":"bea","password":"bea password"}"#)
            let app = try await client.createClient(fixture, tenant: "acme", scopes: ["shop"], kind: "browser", redirect: "http://127.0.0.1:9/cb")
            let verifier = OpaqueToken.generate(prefix: "", bytes: 40)
            let page = try await client.call(
                .get,
                "/oauth/authorize?response_type=code&client_id=\(app.id)&code_challenge=\(PKCE.challenge(for: verifier))&code_challenge_method=S256",
                token: nil
            )
            let form = try #require(LoginPage.formToken(in: page.text))
            let signedIn = try await client.form(.post, "/oauth/authorize", ["request": form, "username": "bea", "password": "bea password"])
            let code = try #require(Self.code(signedIn.headers[.location]))
            let tokens = try await client.form(.post, "/oauth/token", [
                "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb", "client_id": app.id, "code_verifier": verifier,
            ])
            let refresh = try #require(tokens.json["refresh_token"] as? String)
            #expect(try await client.form(.post, "/oauth/revoke", ["token": refresh, "client_id": app.id]).status == .ok)
            let refused = try await client.form(.post, "/oauth/token", ["grant_type": "refresh_token", "refresh_token": refresh, "client_id": app.id])
            #expect(refused.json["error"] as? String == "invalid_grant")
        }
    }

    @Test func theAuthorizationEndpointRefusesBadRequestsWithoutRedirectingToStrangers() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let app = try await client.createClient(fixture, tenant: "acme", scopes: ["shop"], kind: "browser", redirect: "http://127.0.0.1:9/cb")
            let challenge = PKCE.challenge(for: OpaqueToken.generate(prefix: "", bytes: 40))
            // An unregistered redirect URI: an error page, never a redirect there.
            let stranger = try await client.call(
                .get, "/oauth/authorize?response_type=code&client_id=\(app.id)&redirect_uri=http%3A%2F%2Fevil.example%2F&code_challenge=\(challenge)&code_challenge_method=S256",
                token: nil
            )
            #expect(stranger.status == .badRequest)
            #expect(stranger.headers[.location] == nil)
            // No PKCE: back to the client with an error.
            let noPKCE = try await client.call(.get, "/oauth/authorize?response_type=code&client_id=\(app.id)&state=z", token: nil)
            #expect(noPKCE.status == .seeOther)
            #expect(noPKCE.headers[.location]?.contains("error=invalid_request") == true)
            #expect(noPKCE.headers[.location]?.contains("state=z") == true)
            // A forged form.
            let forged = try await client.form(.post, "/oauth/authorize", ["request": "eyJ9.AAAA", "username": "x", "password": "y"])
            #expect(forged.status == .badRequest)
            // A public client cannot use client credentials.
            let grant = try await client.form(.post, "/oauth/token", ["grant_type": "client_credentials", "client_id": app.id])
            #expect(grant.json["error"] as? String == "unauthorized_client")
        }
    }

    @Test func discoveryNamesTheEndpoints() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let document = try await client.call(.get, "/.well-known/openid-configuration", token: nil)
            let issuer = try #require(document.json["issuer"] as? String)
            #expect(document.json["token_endpoint"] as? String == issuer + "/oauth/token")
            #expect(document.json["jwks_uri"] as? String == issuer + "/oauth/jwks.json")
            #expect((document.json["code_challenge_methods_supported"] as? [String]) == ["S256"])
        }
    }

    /// The `code` of a redirect to the client.
    static func code(_ location: String?) -> String? {
        location.flatMap { URLComponents(string: $0) }?.queryItems?.first { $0.name == "code" }?.value
    }

    static func kid(_ token: String) -> String? {
        guard let header = token.split(separator: ".").first, let data = Base64URL.decode(header),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return json["kid"] as? String
    }
}

extension TestClientProtocol {
    /// A form post (`application/x-www-form-urlencoded`), optionally with basic client credentials.
    func form(_ method: HTTPRequest.Method, _ uri: String, _ fields: [String: String], basic: (String, String)? = nil) async throws -> TestResponse {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let basic { headers[.authorization] = "Basic " + Data("\(basic.0):\(basic.1)".utf8).base64EncodedString() }
        return try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: body))
    }

    /// Creates an OAuth client of `tenant` with its API key. - Returns: its id and secret.
    func createClient(
        _ fixture: APIFixture, tenant: String, scopes: [String], kind: String = "service", redirect: String? = nil
    ) async throws -> (id: String, secret: String) {
        let scopeList = scopes.map { "\"\($0)\"" }.joined(separator: ",")
        let redirects = redirect.map { #","redirectUris":["\#($0)"]"# } ?? ""
        let created = try await call(
            .post, "/v1/tenants/\(tenant)/clients", token: tenant == "acme" ? fixture.acmeKey : fixture.globexKey,
            json: #"{"name":"test client","kind":"\#(kind)","scopes":[\#(scopeList)]\#(redirects)}"#
        )
        #expect(created.status == .created, "\(created.text)")
        return (try #require(created.json["clientId"] as? String), created.json["clientSecret"] as? String ?? "")
    }

    func clientCredentials(_ client: (id: String, secret: String), scope: String? = nil) async throws -> TestResponse {
        var fields = ["grant_type": "client_credentials"]
        if let scope { fields["scope"] = scope }
        return try await form(.post, "/oauth/token", fields, basic: client)
    }
}
