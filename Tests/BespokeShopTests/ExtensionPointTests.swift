import BespokeCore
import BespokeServer
import BespokeShop
import BespokeTestSupport
import BespokeWebhooks
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// Synchronous extension points: the shop asks a tenant's service at checkout and when pricing a
/// basket line, through the platform, with deadlines, a circuit breaker and fail-closed or
/// fail-open policies. Real HTTP to a real receiver.
@Suite("Shop: synchronous extension points")
struct ExtensionPointTests {
    /// An extension answering `body` (after `delay`) with `status`.
    static func extensionServer(
        status: Int = 200, delay: Duration = .zero, _ body: @escaping @Sendable (WebhookReceiver.Received) -> String
    ) async throws -> WebhookReceiver {
        try await WebhookReceiver.start(answering: { _, received in
            if delay > .zero { try? await Task.sleep(for: delay) }
            return (status, ["content-type": "application/json"], body(received))
        })
    }

    static func register(
        _ client: some TestClientProtocol, _ fixture: ShopFixture, tenant: TenantID = ShopFixture.acme, point: String, url: String,
        extra: String = ""
    ) async throws -> (id: String, secret: String) {
        let response = try await client.execute(
            uri: "/v1/tenants/\(tenant)/customizations", method: .post,
            headers: [.authorization: "Bearer \(fixture.key(tenant))", .contentType: "application/json"],
            body: ByteBuffer(string: #"{"eventType":"\#(point)","mode":"sync","url":"\#(url)"\#(extra)}"#)
        )
        #expect(response.status == .created, "\(String(buffer: response.body))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
        return (try #require(json["id"] as? String), try #require(json["secret"] as? String))
    }

    static func checkout(_ client: some TestClientProtocol, _ fixture: ShopFixture, tenant: TenantID = ShopFixture.acme, requestID: String? = nil)
        async throws -> TestResponse
    {
        let put = try await client.shop(.put, tenant, "basket/items/\(tenant == ShopFixture.acme ? "mug" : "lamp")", key: fixture.key(tenant), buyer: "ann", json: #"{"quantity":1}"#)
        #expect(put.status == .ok, "\(put.text)")
        var headers: HTTPFields = [.authorization: "Bearer \(fixture.key(tenant))", .contentType: "application/json", .init("Bespoke-Buyer")!: "ann"]
        if let requestID { headers[.init("X-Request-Id")!] = requestID }
        return try await client.execute(
            uri: "/v1/tenants/\(tenant)/shop/basket/checkout", method: .post, headers: headers,
            body: ByteBuffer(string: TestClientProtocolCheckout.body)
        )
    }

    @Test func aRefusingOrderValidationStopsTheCheckoutOfItsTenantOnly() async throws {
        let fixture = try await ShopFixture.make()
        let server = try await Self.extensionServer { received in
            let address = (received.data["address"] as? [String: Any]) ?? [:]
            return address["country"] as? String == "NO" ? #"{"valid":false,"reason":"We do not deliver to Norway."}"# : #"{"valid":true}"#
        }
        defer { server.stop() }
        try await fixture.test(.live) { client in
            let (_, secret) = try await Self.register(client, fixture, point: "ext.order.validate", url: server.url)
            let refused = try await Self.checkout(client, fixture, requestID: "req-validate-1")
            #expect(refused.status == .unprocessableContent)
            #expect(refused.errorCode == "extension_rejected")
            #expect(refused.text.contains("We do not deliver to Norway."))
            // The basket is kept: nothing was ordered.
            let basket = try await client.shop(.get, ShopFixture.acme, "basket", key: fixture.acmeKey, buyer: "ann")
            #expect((basket.json["items"] as? [Any])?.count == 1)

            // The call was signed with the registration's secret and carried the request's id.
            let call = try #require(server.all.first)
            #expect(call.headers["bespoke-correlation-id"] == "req-validate-1")
            #expect(call.headers["bespoke-extension-depth"] == "1")
            #expect(call.event["point"] as? String == "ext.order.validate")
            try WebhookSignature.verify(body: call.body, header: { call.headers[$0] }, secrets: [try WebhookSecret(secret)])

            // Globex has no extension: its checkout is untouched, and the extension never hears of it.
            let globex = try await Self.checkout(client, fixture, tenant: ShopFixture.globex)
            #expect(globex.status == .accepted, "\(globex.text)")
            #expect(server.all.count == 1)
            #expect(!server.all.contains { ($0.event["tenantid"] as? String) == "globex" })
        }
    }

    @Test func thePriceExtensionPricesTheBasketLine() async throws {
        let fixture = try await ShopFixture.make()
        let server = try await Self.extensionServer { received in
            let list = received.data["listPrice"] as? Int ?? 0
            return #"{"unitPrice":\#(list / 2),"note":"half price for members"}"#
        }
        defer { server.stop() }
        try await fixture.test(.live) { client in
            _ = try await Self.register(client, fixture, point: "ext.product.price", url: server.url)
            let put = try await client.shop(.put, ShopFixture.acme, "basket/items/mug", key: fixture.acmeKey, buyer: "ann", json: #"{"quantity":2}"#)
            let items = try #require(put.json["items"] as? [[String: Any]])
            #expect(items.first?["unitPrice"] as? Int == 500)
            // Globex pays its list price.
            let lamp = try await client.shop(.put, ShopFixture.globex, "basket/items/lamp", key: fixture.globexKey, buyer: "ann", json: #"{"quantity":1}"#)
            #expect((lamp.json["items"] as? [[String: Any]])?.first?["unitPrice"] as? Int == 3_000)
        }
    }

    @Test func aLateOrFailingExtensionFailsClosedNamingItUnlessItFailsOpen() async throws {
        let fixture = try await ShopFixture.make()
        let slow = try await Self.extensionServer(delay: .seconds(2)) { _ in #"{"ok":true}"# }
        let broken = try await Self.extensionServer(status: 500) { _ in "oops" }
        let invalid = try await Self.extensionServer { _ in #"{"ok":"yes"}"# }
        defer { slow.stop(); broken.stop(); invalid.stop() }
        try await fixture.test(.live) { client in
            let (id, _) = try await Self.register(client, fixture, point: "ext.basket.check", url: slow.url, extra: #","timeoutMs":300"#)
            let started = ContinuousClock.now
            let late = try await Self.checkout(client, fixture)
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(late.status == .badGateway)
            #expect(late.errorCode == "extension_failed")
            #expect(late.text.contains(id) && late.text.contains("ext.basket.check") && late.text.contains("300 ms"))

            for (server, expected) in [(broken, "answered 500"), (invalid, "does not match the schema")] {
                let update = try await client.execute(
                    uri: "/v1/tenants/acme/customizations/\(id)", method: .patch,
                    headers: [.authorization: "Bearer \(fixture.acmeKey)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"url":"\#(server.url)"}"#)
                )
                #expect(update.status == .ok)
                let failed = try await Self.checkout(client, fixture)
                #expect(failed.errorCode == "extension_failed")
                #expect(failed.text.contains(expected), "\(failed.text)")
            }

            // Opting in to fail open: the broken extension is skipped with the point's default answer.
            let open = try await client.execute(
                uri: "/v1/tenants/acme/customizations/\(id)", method: .patch,
                headers: [.authorization: "Bearer \(fixture.acmeKey)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"url":"\#(broken.url)","onDeadline":"resume"}"#)
            )
            #expect(open.status == .ok)
            let accepted = try await Self.checkout(client, fixture)
            #expect(accepted.status == .accepted, "\(accepted.text)")
        }
    }

    @Test func theCircuitOpensAfterRepeatedFailuresAndAHalfOpenTrialClosesIt() async throws {
        let fixture = try await ShopFixture.make { configuration in
            configuration.customization.breakerFailureThreshold = 2
            configuration.customization.breakerOpenDuration = .seconds(1)
        }
        let healthy = ManagedFlag()
        let server = try await WebhookReceiver.start(answering: { _, _ in
            healthy.value ? (200, ["content-type": "application/json"], #"{"ok":true}"#) : (503, [:], "")
        })
        defer { server.stop() }
        try await fixture.test(.live) { client in
            _ = try await Self.register(client, fixture, point: "ext.basket.check", url: server.url)
            for _ in 0..<2 {
                #expect(try await Self.checkout(client, fixture).errorCode == "extension_failed")
            }
            #expect(server.all.count == 2)
            // Open: refused at once, the endpoint is not called.
            let refused = try await Self.checkout(client, fixture)
            #expect(refused.text.contains("circuit is open"))
            #expect(server.all.count == 2)

            // Half-open after the open duration: a failing trial opens it again at once.
            try await Task.sleep(for: .milliseconds(1_100))
            #expect(try await Self.checkout(client, fixture).text.contains("answered 503"))
            #expect(server.all.count == 3)
            #expect(try await Self.checkout(client, fixture).text.contains("circuit is open"))

            // A successful trial closes it.
            healthy.value = true
            try await Task.sleep(for: .milliseconds(1_100))
            #expect(try await Self.checkout(client, fixture).status == .accepted)
            #expect(try await Self.checkout(client, fixture).status == .accepted)
            #expect(server.all.count == 5)
        }
    }

    @Test func registrationRules() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test(.router) { client in
            func register(_ body: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/tenants/acme/customizations", method: .post,
                    headers: [.authorization: "Bearer \(fixture.acmeKey)", .contentType: "application/json"], body: ByteBuffer(string: body)
                )
            }
            #expect(try await register(#"{"eventType":"ext.order.validate","mode":"observe","url":"http://127.0.0.1:1/x"}"#).errorCode == "invalid_request")
            #expect(try await register(#"{"eventType":"OrderStarted","mode":"sync","url":"http://127.0.0.1:1/x"}"#).errorCode == "invalid_request")
            #expect(try await register(#"{"eventType":"ext.order.validate","mode":"sync","url":"http://127.0.0.1:1/x","timeoutMs":2500}"#).errorCode == "invalid_request")
            let created = try await register(#"{"eventType":"ext.order.validate","mode":"sync","url":"http://127.0.0.1:1/x"}"#)
            #expect(created.status == .created)
            #expect(created.json["timeoutMs"] as? Int == 500)
            #expect(created.json["onDeadline"] as? String == "cancel")
            #expect(try await register(#"{"eventType":"ext.order.validate","mode":"sync","url":"http://127.0.0.1:1/y"}"#).errorCode == "conflict")
        }
    }
}

/// A flag shared with a receiver's responder.
final class ManagedFlag: Sendable {
    private let state = Mutex(false)
    var value: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

enum TestClientProtocolCheckout {
    static let body = #"{"address":{"street":"1 Main St","city":"Oslo","zipCode":"0150","country":"NO"},"cardHolderName":"A Buyer","cardNumber":"4111 1111 1111 1111"}"#
}
