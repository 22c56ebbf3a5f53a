import BespokeTestSupport
import Foundation
import HummingbirdTesting
import Testing

/// The authorization server checked by an independent client (installed by `.ci/run`): Python
/// `authlib` reads the discovery document, runs the client-credentials grant and the
/// authorization-code grant with PKCE (signing in on the real login page), refreshes, and
/// verifies every JWT with the platform's JWKS.
@Suite("OIDC interop (Python authlib)")
struct OIDCInteropTests {
    private let script = #"""
        import json, os, re, requests
        from authlib.integrations.requests_client import OAuth2Session
        from authlib.common.security import generate_token
        from authlib.jose import jwt, JsonWebKey

        base = os.environ["BASE"]
        discovery = requests.get(base + "/.well-known/openid-configuration").json()
        keys = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"]).json())
        issuer = {"essential": True, "value": discovery["issuer"]}

        service = OAuth2Session(os.environ["SERVICE_ID"], os.environ["SERVICE_SECRET"], scope="events:publish")
        service_token = service.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
        service_claims = jwt.decode(service_token["access_token"], keys, claims_options={"iss": issuer})
        service_claims.validate()

        app = OAuth2Session(os.environ["APP_ID"], redirect_uri=os.environ["REDIRECT"], scope="openid shop",
                            code_challenge_method="S256", token_endpoint_auth_method="none")
        verifier = generate_token(64)
        url, state = app.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier, nonce="nonce-1")
        page = requests.get(url)
        form = re.search(r'name="request" value="([^"]+)"', page.text).group(1)
        wrong = requests.post(discovery["authorization_endpoint"], allow_redirects=False,
                              data={"request": form, "username": "alice", "password": "not the password"})
        signed_in = requests.post(discovery["authorization_endpoint"], allow_redirects=False,
                                  data={"request": form, "username": "alice", "password": "alice password"})
        tokens = app.fetch_token(discovery["token_endpoint"], authorization_response=signed_in.headers["Location"],
                                 code_verifier=verifier)
        id_claims = jwt.decode(tokens["id_token"], keys, claims_options={
            "iss": issuer, "aud": {"essential": True, "value": os.environ["APP_ID"]}, "nonce": {"essential": True, "value": "nonce-1"}})
        id_claims.validate()
        access_claims = jwt.decode(tokens["access_token"], keys, claims_options={"iss": issuer})
        access_claims.validate()
        refreshed = app.refresh_token(discovery["token_endpoint"], refresh_token=tokens["refresh_token"])
        refreshed_claims = jwt.decode(refreshed["access_token"], keys, claims_options={"iss": issuer})
        refreshed_claims.validate()
        try:
            jwt.decode(service_token["access_token"][:-4] + "AAAA", keys).validate()
            tampered = "accepted"
        except Exception as error:
            tampered = "refused"
        print(json.dumps({
            "service": {"tenant": service_claims["tenant"], "scope": service_claims["scope"], "sub": service_claims["sub"]},
            "wrongPasswordStatus": wrong.status_code, "state": state,
            "user": {"sub": id_claims["sub"], "name": id_claims["preferred_username"], "tenant": access_claims["tenant"],
                     "scope": tokens["scope"], "kind": access_claims["kind"]},
            "refreshed": refreshed["refresh_token"] != tokens["refresh_token"] and refreshed_claims["sub"] == access_claims["sub"],
            "tampered": tampered,
        }))
        """#

    @Test func authlibRunsDiscoveryBothGrantsAndVerifiesTheTokens() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test(.live) { client in
            let port = try #require(client.port)
            let service = try await client.createClient(fixture, tenant: "acme", scopes: ["events:publish"])
            let app = try await client.createClient(
                fixture, tenant: "acme", scopes: ["openid", "shop"], kind: "browser", redirect: "http://127.0.0.1:9/callback"
            )
            let user = try await client.call(
                .post, "/v1/tenants/acme/users", token: fixture.acmeKey, json: #"{"username":"alice","password":"alice password"}"#
            )
            #expect(user.status == .created)
            let environment = [
                "BASE": "http://127.0.0.1:\(port)", "SERVICE_ID": service.id, "SERVICE_SECRET": service.secret, "APP_ID": app.id,
                "REDIRECT": "http://127.0.0.1:9/callback",
            ]
            // Off the cooperative pool: the server answers the script meanwhile.
            let result = try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { [script] in
                    continuation.resume(with: Result {
                        try ChildProcess.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script], environment: environment)
                    })
                }
            }
            #expect(result.status == 0, "python failed: \(result.output)")
            let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
            let output = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(result.output)")
            let serviceClaims = try #require(output["service"] as? [String: Any])
            #expect(serviceClaims["tenant"] as? String == "acme")
            #expect(serviceClaims["scope"] as? String == "events:publish")
            #expect(serviceClaims["sub"] as? String == service.id)
            #expect(output["wrongPasswordStatus"] as? Int == 401)
            let userClaims = try #require(output["user"] as? [String: Any])
            #expect(userClaims["name"] as? String == "alice")
            #expect(userClaims["tenant"] as? String == "acme")
            #expect(userClaims["kind"] as? String == "user")
            #expect(userClaims["scope"] as? String == "openid shop")
            #expect(output["refreshed"] as? Bool == true)
            #expect(output["tampered"] as? String == "refused")
        }
    }
}
