import BespokeCore
import BespokeServer
import BespokeShop
import BespokeTestSupport
import BespokeWebhooks
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The storefront's pages, its sessions and its UI slots.
@Suite("Shop: storefront and UI slots")
struct StorefrontTests {
    /// A UI extension of acme that adds a SHIPPING DATE column for every order it is asked about.
    static func shippingDateExtension(delay: Duration = .zero, value: String = "2026-12-01", link: String? = nil) async throws -> WebhookReceiver {
        try await WebhookReceiver.start(answering: { _, received in
            if delay > .zero { try? await Task.sleep(for: delay) }
            let context = (received.event["context"] as? [String: Any]) ?? [:]
            let ids = context["orderIds"] as? [String] ?? []
            let entries = ids.map { id -> [String: Any] in
                var entry: [String: Any] = ["key": id, "label": "SHIPPING DATE", "value": value]
                if let link { entry["link"] = link }
                return entry
            }
            let body = String(decoding: try! JSONSerialization.data(withJSONObject: ["entries": entries]), as: UTF8.self)
            return (200, ["content-type": "application/json"], body)
        })
    }

    /// Signs a buyer in through a sign-in link. - Returns: the session cookie header value.
    static func signIn(_ client: some TestClientProtocol, _ fixture: ShopFixture, tenant: TenantID, buyer: String, admin: Bool = false) async throws -> String {
        let link = try await client.shop(
            .post, tenant, "sign-in-links", key: fixture.key(tenant), json: #"{"buyer":"\#(buyer)","role":"\#(admin ? "admin" : "shopper")"}"#
        )
        #expect(link.status == .created, "\(link.text)")
        let path = try #require(link.json["path"] as? String)
        let opened = try await client.execute(uri: path, method: .get)
        #expect(opened.status == .seeOther)
        let cookie = try #require(opened.headers[.setCookie])
        #expect(cookie.contains("HttpOnly") && cookie.contains("Path=/shop/\(tenant)"))
        return String(cookie.split(separator: ";")[0])
    }

    static func page(_ client: some TestClientProtocol, _ path: String, cookie: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = cookie }
        return try await client.execute(uri: path, method: .get, headers: headers)
    }

    @Test func myOrdersShowsATenantsColumnOnlyToThatTenantEscapedAndSigned() async throws {
        let fixture = try await ShopFixture.make()
        let receiver = try await Self.shippingDateExtension(value: "<script>alert(1)</script>2026-12-01")
        defer { receiver.stop() }
        let (_, secret) = try await fixture.platform.manager.register(
            tenant: ShopFixture.acme, eventType: UISlot.myOrdersColumns.rawValue, mode: .ui, url: receiver.url
        )
        try await fixture.test { client in
            let order = try await client.placeOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "alice", [("mug", 1)])
            try await client.waitForOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "alice", order, status: "Paid")
            let theirs = try await client.placeOrder(ShopFixture.globex, key: fixture.globexKey, buyer: "alice", [("lamp", 1)])
            try await client.waitForOrder(ShopFixture.globex, key: fixture.globexKey, buyer: "alice", theirs, status: "Paid")

            let acmeCookie = try await Self.signIn(client, fixture, tenant: ShopFixture.acme, buyer: "alice")
            let page = try await Self.page(client, "/shop/acme/orders", cookie: acmeCookie)
            #expect(page.status == .ok)
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            let html = page.text
            #expect(html.contains("SHIPPING DATE"))
            #expect(html.contains(String(order.prefix(8))))
            #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;2026-12-01"), "the tenant's text is escaped")
            #expect(!html.contains("<script>"))
            #expect(!html.contains("Globex") && !html.contains(String(theirs.prefix(8))))

            // The extension was asked with the buyer's orders, signed with its secret.
            let call = try #require(receiver.all.last)
            let headers = Dictionary(call.headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
            try WebhookSignature.verify(body: call.body, header: { headers[$0] }, secrets: [try WebhookSecret(secret)])
            #expect(call.event["slot"] as? String == "ui.my-orders.columns")
            // With how long the page waits (the slot's 300 ms, or the registration's timeout if shorter).
            #expect(headers["bespoke-deadline-ms"].flatMap { Int($0) }.map { (1...300).contains($0) } == true, "\(headers)")
            #expect((call.event["context"] as? [String: Any])?["orderIds"] as? [String] == [order])

            // Globex's My Orders, same buyer name: no column, and the extension is not called.
            let calls = receiver.all.count
            let globexCookie = try await Self.signIn(client, fixture, tenant: ShopFixture.globex, buyer: "alice")
            let other = try await Self.page(client, "/shop/globex/orders", cookie: globexCookie).text
            #expect(other.contains(String(theirs.prefix(8))))
            #expect(!other.contains("SHIPPING DATE"))
            #expect(!other.contains("Acme") && !other.contains(String(order.prefix(8))))
            #expect(receiver.all.count == calls)
        }
    }

    @Test(arguments: ["slow", "broken", "script-link"])
    func aBadExtensionLeavesThePageRenderedWithoutIt(_ kind: String) async throws {
        let fixture = try await ShopFixture.make()
        let receiver: WebhookReceiver
        switch kind {
        case "slow": receiver = try await Self.shippingDateExtension(delay: .seconds(10))
        case "broken": receiver = try await WebhookReceiver.start { _, _ in (500, [:]) }
        default: receiver = try await Self.shippingDateExtension(link: "javascript:alert(1)")
        }
        defer { receiver.stop() }
        _ = try await fixture.platform.manager.register(
            tenant: ShopFixture.acme, eventType: UISlot.myOrdersColumns.rawValue, mode: .ui, url: receiver.url
        )
        try await fixture.test { client in
            let order = try await client.placeOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "alice", [("mug", 1)])
            try await client.waitForOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "alice", order, status: "Submitted")
            let cookie = try await Self.signIn(client, fixture, tenant: ShopFixture.acme, buyer: "alice")
            let started = ContinuousClock.now
            let page = try await Self.page(client, "/shop/acme/orders", cookie: cookie)
            let elapsed = ContinuousClock.now - started
            #expect(page.status == .ok)
            #expect(page.text.contains(String(order.prefix(8))))
            #expect(!page.text.contains("SHIPPING DATE"))
            #expect(!page.text.contains("javascript:"))
            // The slot deadline (300 ms) bounds the wait, far below the extension's 10 s.
            #expect(elapsed < .seconds(5), "\(elapsed)")
            #expect(receiver.all.count >= 1, "the extension was asked")
        }
    }

    @Test func pagesNeedASessionOfTheirOwnTenant() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test { client in
            // The catalog is public; the basket and orders are not.
            let catalog = try await Self.page(client, "/shop/acme", cookie: nil)
            #expect(catalog.status == .ok)
            #expect(catalog.text.contains("Acme Mug") && !catalog.text.contains("Globex"))
            #expect(catalog.text.contains("--brand: #aa3300"))
            #expect(try await Self.page(client, "/shop/acme/orders", cookie: nil).status == .unauthorized)
            #expect(try await Self.page(client, "/shop/nobody", cookie: nil).status == .notFound)
            #expect(try await Self.page(client, "/shop/acme/products/lamp", cookie: nil).status == .notFound)

            // Acme's session is worth nothing at globex; a tampered cookie is worth nothing anywhere.
            let acme = try await Self.signIn(client, fixture, tenant: ShopFixture.acme, buyer: "alice")
            #expect(try await Self.page(client, "/shop/acme/orders", cookie: acme).status == .ok)
            #expect(try await Self.page(client, "/shop/globex/orders", cookie: acme).status == .unauthorized)
            let tampered = acme.replacingOccurrences(of: ".", with: ".x")
            #expect(try await Self.page(client, "/shop/acme/orders", cookie: tampered).status == .unauthorized)
            // A shopper is not an admin.
            #expect(try await Self.page(client, "/shop/acme/admin/orders", cookie: acme).status == .notFound)

            // A link works once, and only at its own tenant's storefront.
            let link = try await client.shop(.post, ShopFixture.acme, "sign-in-links", key: fixture.acmeKey, json: #"{"buyer":"bob"}"#)
            let path = try #require(link.json["path"] as? String)
            let atGlobex = path.replacingOccurrences(of: "/shop/acme/", with: "/shop/globex/")
            #expect(try await client.execute(uri: atGlobex, method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: path, method: .get).status == .seeOther)
            #expect(try await client.execute(uri: path, method: .get).status == .unauthorized)
        }
    }

    @Test func aShopperOrdersThroughTheFormsAndTheAdminShips() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test { client in
            let cookie = try await Self.signIn(client, fixture, tenant: ShopFixture.acme, buyer: "frank")
            func post(_ path: String, _ form: String, cookie: String) async throws -> TestResponse {
                try await client.execute(
                    uri: path, method: .post, headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: form)
                )
            }
            let added = try await post("/shop/acme/basket", "productId=mug&quantity=2", cookie: cookie)
            #expect(added.status == .seeOther)
            let basket = try await Self.page(client, "/shop/acme/basket", cookie: cookie).text
            #expect(basket.contains("Acme Mug") && basket.contains("20.00"))
            let checkout = try await post(
                "/shop/acme/checkout",
                "requestId=form-1&street=1+Main&city=Oslo&zipCode=0150&country=NO&cardHolderName=Frank&cardNumber=4111111111111111",
                cookie: cookie
            )
            #expect(checkout.status == .seeOther)
            let location = try #require(checkout.headers[.location])
            let orderID = String(try #require(location.split(separator: "/").last))
            try await client.waitForOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "frank", orderID, status: "Paid")
            let detail = try await Self.page(client, location, cookie: cookie).text
            #expect(detail.contains("Paid") && detail.contains("card ending 1111"))
            let bad = try await post("/shop/acme/checkout", "requestId=x", cookie: cookie)
            #expect(bad.status == .badRequest)

            let admin = try await Self.signIn(client, fixture, tenant: ShopFixture.acme, buyer: "owner", admin: true)
            let list = try await Self.page(client, "/shop/acme/admin/orders", cookie: admin).text
            #expect(list.contains(String(orderID.prefix(8))) && list.contains("Ship"))
            let shipped = try await post("/shop/acme/admin/orders/\(orderID)/ship", "", cookie: admin)
            #expect(shipped.status == .seeOther)
            let after = try await client.shop(.get, ShopFixture.acme, "orders/\(orderID)", key: fixture.acmeKey, buyer: "frank").json
            #expect(after["status"] as? String == "Shipped")
        }
    }
}
