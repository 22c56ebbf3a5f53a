import BespokeCore
import BespokeServer
import BespokeTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Signing in to the storefront through the platform's authorization server: authorization
/// code with PKCE, a real login page, the tenant's own users only.
@Suite("Shop: storefront sign-in (OAuth2 authorization code + PKCE)")
struct StorefrontLoginTests {
    /// Follows the storefront's sign-in as a browser would. - Returns: the last response and
    /// the session cookie, if one was set.
    static func signIn(
        _ client: some TestClientProtocol, tenant: String, username: String, password: String
    ) async throws -> (response: TestResponse, session: String?) {
        let start = try await client.execute(uri: "/shop/\(tenant)/login", method: .get)
        #expect(start.status == .seeOther || start.status == .found, "\(start.text)")
        let loginCookie = try #require(Self.cookie("bespoke_login", in: start))
        let authorize = try #require(start.headers[.location])
        #expect(authorize.hasPrefix("/oauth/authorize?"))
        let page = try await client.execute(uri: authorize, method: .get)
        #expect(page.status == .ok, "\(page.text)")
        let form = try #require(LoginPage.formToken(in: page.text))
        let body = "request=\(form)&username=\(username)&password=\(password.replacingOccurrences(of: " ", with: "+"))"
        let posted = try await client.execute(
            uri: "/oauth/authorize", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: body)
        )
        guard posted.status == .seeOther, let callback = posted.headers[.location] else { return (posted, nil) }
        #expect(callback.hasPrefix("/shop/\(tenant)/callback?"))
        let back = try await client.execute(uri: callback, method: .get, headers: [.cookie: "bespoke_login=\(loginCookie)"])
        return (back, Self.cookie("bespoke_shop", in: back))
    }

    @Test func aTenantsUserSignsInAndSeesTheirOrdersAndAnAdminGetsTheAdminPages() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test { client in
            for (name, scopes) in [("alice", #"["shop"]"#), ("boss", #"["shop","shop:admin"]"#)] {
                let created = try await client.execute(
                    uri: "/v1/tenants/acme/users", method: .post,
                    headers: [.authorization: "Bearer \(fixture.acmeKey)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"username":"\#(name)","password":"\#(name) password","scopes":\#(scopes)}"#)
                )
                #expect(created.status == .created)
            }
            let (back, session) = try await Self.signIn(client, tenant: "acme", username: "alice", password: "alice password")
            #expect(back.headers[.location] == "/shop/acme/orders")
            let cookie = try #require(session)
            let orders = try await client.execute(uri: "/shop/acme/orders", method: .get, headers: [.cookie: "bespoke_shop=\(cookie)"])
            #expect(orders.status == .ok)
            #expect(orders.text.contains("Signed in as alice"))
            // A shopper is no admin.
            let admin = try await client.execute(uri: "/shop/acme/admin/orders", method: .get, headers: [.cookie: "bespoke_shop=\(cookie)"])
            #expect(admin.status == .notFound)

            let (bossBack, bossSession) = try await Self.signIn(client, tenant: "acme", username: "boss", password: "boss password")
            #expect(bossBack.headers[.location] == "/shop/acme/admin/orders")
            let bossPage = try await client.execute(
                uri: "/shop/acme/admin/orders", method: .get, headers: [.cookie: "bespoke_shop=\(try #require(bossSession))"]
            )
            #expect(bossPage.status == .ok)
        }
    }

    @Test func wrongPasswordsAndOtherTenantsUsersDoNotSignIn() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test { client in
            _ = try await client.execute(
                uri: "/v1/tenants/globex/users", method: .post,
                headers: [.authorization: "Bearer \(fixture.globexKey)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"username":"gus","password":"gus password"}"#)
            )
            let (wrongTenant, noSession) = try await Self.signIn(client, tenant: "acme", username: "gus", password: "gus password")
            #expect(wrongTenant.status == .unauthorized)
            #expect(noSession == nil)
            let (wrongPassword, none) = try await Self.signIn(client, tenant: "globex", username: "gus", password: "not it")
            #expect(wrongPassword.status == .unauthorized)
            #expect(none == nil)
            // A callback without the sign-in's cookie is refused.
            let forged = try await client.execute(uri: "/shop/acme/callback?code=ac_x&state=y", method: .get)
            #expect(forged.status == .unauthorized)
            #expect(Self.cookie("bespoke_shop", in: forged) == nil)
        }
    }

    static func cookie(_ name: String, in response: TestResponse) -> String? {
        for field in response.headers where field.name == .setCookie {
            let pair = field.value.split(separator: ";").first.map(String.init) ?? ""
            if pair.hasPrefix(name + "="), pair.count > name.count + 1 { return String(pair.dropFirst(name.count + 1)) }
        }
        return nil
    }
}
