import BespokeBus
import BespokeCore
import BespokeCustomization
import BespokeServer
import BespokeStorage
import BespokeTestSupport
import Foundation
import HummingbirdTesting
import Testing

/// Customization tests: a platform that may push to loopback, with a retry schedule
/// compressed from hours to milliseconds.
extension APIFixture {
    static func customizable(
        schedule: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(300)],
        configure: (inout BespokeConfiguration) -> Void = { _ in }
    ) async throws -> APIFixture {
        try await make { configuration in
            configuration.customization.outbound.allowLoopback = true
            configuration.customization.retrySchedule = schedule
            configuration.customization.reconcileInterval = .milliseconds(20)
            configuration.bus.holdDeadlineCheckInterval = .milliseconds(20)
            configure(&configuration)
        }
    }

    var bus: EventBus { platform.bus }

    /// Runs `body` on a customizable platform with a webhook receiver on loopback, the event
    /// `types` in the catalog, and the product's consumer of acme subscribed.
    static func withReceiver(
        catalog types: [String], _ body: @Sendable (APIFixture, WebhookReceiver, any TestClientProtocol) async throws -> Void
    ) async throws {
        let fixture = try await customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            for type in types { try await fixture.catalog(type, client: client) }
            try await fixture.productSubscribes()
            try await body(fixture, receiver, client)
        }
    }

    /// Resumes the event of a push to an interceptor, as acme's service, with `body`.
    func resume(_ push: WebhookReceiver.Received, _ body: String = "{}", client: any TestClientProtocol) async throws {
        let ticket = try #require(push.holdTicket)
        let resumed = try await client.call(.post, "/v1/tenants/acme/holds/\(ticket)/resume", token: acmeKey, json: body)
        #expect(resumed.status == .noContent, "\(resumed.text)")
    }

    /// Registers acme's `ui` customization of a UI slot with `extra` members: the answer.
    func registerSlot(url: String, extra: String, client: any TestClientProtocol) async throws -> TestResponse {
        try await catalog("ui.orders.columns", interceptable: false, mutableFields: [], client: client)
        return try await client.call(
            .post, "/v1/tenants/acme/customizations", token: acmeKey,
            json: #"{"eventType":"ui.orders.columns","mode":"ui","url":"\#(url)"\#(extra)}"#
        )
    }

    /// Puts an event type in the catalog: data `{orderId: string, note?: string, units?: integer}`.
    func catalog(
        _ type: String, interceptable: Bool = true, mutableFields: [String] = ["note"], client: any TestClientProtocol
    ) async throws {
        let schema = #"{"type":"object","required":["orderId"],"properties":{"orderId":{"type":"string"},"note":{"type":"string","maxLength":20},"units":{"type":"integer","minimum":1}}}"#
        let fields = mutableFields.map { "\"\($0)\"" }.joined(separator: ",")
        let response = try await client.call(
            .put, "/v1/admin/catalog/\(type)", token: adminToken,
            json: #"{"summary":"test type","schema":\#(schema),"interceptable":\#(interceptable),"mutableFields":[\#(fields)]}"#
        )
        #expect(response.status == .created || response.status == .ok, "catalog: \(response.text)")
    }

    /// Registers a customization of `tenant` and returns its id and secret.
    func register(
        _ tenant: String = "acme", type: String, mode: String, url: String, extra: String = "", client: any TestClientProtocol
    ) async throws -> (id: String, secret: String) {
        let response = try await client.call(
            .post, "/v1/tenants/\(tenant)/customizations", token: key(tenant),
            json: #"{"eventType":"\#(type)","mode":"\#(mode)","url":"\#(url)"\#(extra)}"#
        )
        #expect(response.status == .created, "register: \(response.text)")
        return (try #require(response.json["id"] as? String), try #require(response.json["secret"] as? String))
    }

    func key(_ tenant: String) -> String { tenant == "acme" ? acmeKey : globexKey }

    /// Records `count` failed push attempts of acme's customization `id`, made `age` ago.
    func recordOldAttempts(_ count: Int, of id: String, age: Duration) async throws {
        let madeAt = Date().addingTimeInterval(-age.seconds)
        try await platform.store.recordAttempts((0..<count).map { index in
            DeliveryAttempt(
                tenant: TenantID(trusted: "acme"), customization: id, messageID: "old-\(index)", eventID: "e", attemptedAt: madeAt,
                status: 503, latency: .milliseconds(1), error: "endpoint answered 503"
            )
        })
    }

    /// The statuses of acme's customization `id`'s logged attempts, newest first.
    func attemptStatuses(of id: String, client: any TestClientProtocol) async throws -> [Int]? {
        let log = try await client.call(.get, "/v1/tenants/acme/customizations/\(id)/attempts", token: acmeKey)
        return (log.json["attempts"] as? [[String: Any]])?.compactMap { $0["status"] as? Int }
    }

    /// Publishes an event over HTTP and returns the receipt.
    @discardableResult
    func publish(
        _ tenant: String = "acme", id: String, type: String, key partitionKey: String? = nil, data: String = #"{"orderId":"o-1"}"#,
        client: any TestClientProtocol
    ) async throws -> [String: Any] {
        let keyAttribute = partitionKey.map { #","partitionkey":"\#($0)""# } ?? ""
        let response = try await client.call(
            .post, "/v1/tenants/\(tenant)/events", token: key(tenant),
            json: #"{"specversion":"1.0","id":"\#(id)","source":"/shop","type":"\#(type)","data":\#(data)\#(keyAttribute)}"#
        )
        #expect(response.status == .created, "publish: \(response.text)")
        return response.json
    }

    /// Creates the product's in-process consumer of `tenant`'s `Order*` events.
    func productSubscribes(_ tenant: String = "acme") async throws {
        _ = try await bus.createSubscription(tenant: TenantID(trusted: tenant), name: "product", types: ["Order*"])
    }

    /// What the product's in-process consumer of `tenant` receives within `wait`; acked.
    func productReceives(_ tenant: String = "acme", wait: Duration = .milliseconds(500), max: Int = 50) async throws -> [CloudEvent] {
        let tenantID = TenantID(trusted: tenant)
        let deadline = ContinuousClock.now + wait
        var events: [CloudEvent] = []
        repeat {
            let batch = try await bus.receive(tenant: tenantID, subscription: "product", max: max, wait: .milliseconds(50))
            if !batch.isEmpty { try await bus.ack(tenant: tenantID, subscription: "product", batch.map(\.receipt)) }
            events += try batch.map { try $0.event() }
        } while ContinuousClock.now < deadline
        return events
    }

    /// Waits until `condition` holds; fails after `timeout`.
    func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting until \(what)")
    }
}
