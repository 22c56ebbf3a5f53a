@testable import BespokeSDK
import BespokeServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import BespokeTestSupport
import Testing

/// The tenant SDK against the real platform over HTTP: its hooks refuse what is not signed
/// for the tenant, and a service written with it receives an intercepted event, resumes it
/// with its client-credentials token, and publishes its own event.
@Suite("Tenant SDK")
struct TenantSDKTests {
    struct Noted: TypedEventData {
        static let eventType = "sdk.Noted"
        let orderId: String
    }

    struct Question: Codable, Sendable { let buyer: String }
    struct Verdict: Codable, Sendable { let valid: Bool }

    static let secret = WebhookSecret.generate()

    static func hooks(seen: Locked<[String]>) -> TenantHooks {
        var hooks = TenantHooks(tenant: "acme", secrets: [secret])
        hooks.onEvent(Noted.self) { noted, event in seen.withLock { $0.append("\(noted.orderId) hold=\(event.hold ?? "-")") } }
        hooks.onExtension("ext.order.validate") { (question: Question, call: ExtensionCall) in
            Verdict(valid: question.buyer != "mallory" && call.tenant == "acme")
        }
        hooks.onSlot("ui.my-orders.columns") { (_: [String: JSONValue], call: ExtensionCall) in
            // The value: how many milliseconds the platform still waits.
            [UISlotEntry(key: "o-1", label: "COLUMN", value: "\((call.deadline - .now).wholeMilliseconds)")]
        }
        return hooks
    }

    static func signed(_ body: String, secret: WebhookSecret = secret, timestamp: Date = Date()) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        for (name, value) in WebhookSignature.headers(
            id: "msg_1", timestamp: Int64(timestamp.timeIntervalSince1970), body: Data(body.utf8), secrets: [secret]
        ) {
            fields[HTTPField.Name(name)!] = value
        }
        return fields
    }

    @Test func hooksAnswerOnlySignedCallsForTheirTenant() async throws {
        let seen = Locked<[String]>([])
        let router = Router()
        Self.hooks(seen: seen).addRoutes(to: router)
        try await Application(router: router).test(.router) { client in
            let event = #"{"specversion":"1.0","id":"e-1","source":"/shop","type":"sdk.Noted","tenantid":"acme","data":{"orderId":"o-7"}}"#
            func post(_ path: String, _ body: String, headers: HTTPFields) async throws -> TestResponse {
                try await client.execute(uri: "/hooks/\(path)", method: .post, headers: headers, body: ByteBuffer(string: body))
            }
            // Unsigned, signed with another secret, or too old: refused before any handler runs.
            #expect(try await post("events", event, headers: [.contentType: "application/json"]).status == .unauthorized)
            #expect(try await post("events", event, headers: Self.signed(event, secret: .generate())).status == .unauthorized)
            #expect(try await post("events", event, headers: Self.signed(event, timestamp: Date().addingTimeInterval(-3600))).status == .unauthorized)
            #expect(seen.withLock { $0 }.isEmpty)
            // Another tenant's event, even signed: refused.
            let foreign = event.replacingOccurrences(of: #""tenantid":"acme""#, with: #""tenantid":"globex""#)
            #expect(try await post("events", foreign, headers: Self.signed(foreign)).status == .forbidden)
            let anonymous = event.replacingOccurrences(of: #""tenantid":"acme","#, with: "")
            #expect(try await post("events", anonymous, headers: Self.signed(anonymous)).status == .forbidden)
            // Data the handler cannot read: 422, the caller's mistake rather than the service's failure.
            let bad = event.replacingOccurrences(of: #"{"orderId":"o-7"}"#, with: #"{"order":7}"#)
            #expect(try await post("events", bad, headers: Self.signed(bad)).status == .unprocessableContent)
            let unknown = event.replacingOccurrences(of: "sdk.Noted", with: "sdk.Other")
            #expect(try await post("events", unknown, headers: Self.signed(unknown)).status == .notFound)
            // Signed for acme: handled, typed.
            #expect(try await post("events", event, headers: Self.signed(event)).status == .noContent)
            #expect(seen.withLock { $0 } == ["o-7 hold=-"])

            let question = #"{"point":"ext.order.validate","tenantid":"acme","data":{"buyer":"mallory"}}"#
            let verdict = try await post("extensions", question, headers: Self.signed(question))
            #expect(verdict.status == .ok && String(buffer: verdict.body) == #"{"valid":false}"#)
            let foreignQuestion = question.replacingOccurrences(of: #""tenantid":"acme""#, with: #""tenantid":"globex""#)
            #expect(try await post("extensions", foreignQuestion, headers: Self.signed(foreignQuestion)).status == .forbidden)
            let slot = #"{"slot":"ui.my-orders.columns","tenantid":"acme","context":{"buyer":"alice"}}"#
            var slotHeaders = Self.signed(slot)
            slotHeaders[HTTPField.Name("Bespoke-Deadline-Ms")!] = "250"
            let entries = try await post("slots", slot, headers: slotHeaders)
            let answer = try JSONDecoder().decode([String: [UISlotEntry]].self, from: Data(entries.body.readableBytesView))
            let left = try #require(answer["entries"]?.first.flatMap { Int($0.value) })
            #expect(answer["entries"]?.first?.label == "COLUMN" && (100...250).contains(left), "deadline from the header: \(left) ms left")
        }
    }

    @Test func aTokenIsFetchedOnceAndRenewedBeforeItExpires() async throws {
        let fetches = Atomic<Int>(0)
        let cache = AccessTokenCache(margin: .seconds(60)) {
            let n = fetches.add(1, ordering: .relaxed).newValue
            try await Task.sleep(for: .milliseconds(50))
            return ("token-\(n)", .milliseconds(400))
        }
        // Concurrent callers share one request.
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await cache.token() } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(tokens == ["token-1"] && fetches.load(ordering: .relaxed) == 1)
        // A 400 ms token is renewed after half its life, not at its last moment.
        try await Task.sleep(for: .milliseconds(260))
        #expect(try await cache.token() == "token-2")
        await cache.invalidate("token-2")
        #expect(try await cache.token() == "token-3")
    }

    @Test func aServiceResumesAHeldEventAndPublishesWithItsClientCredentials() async throws {
        let fixture = try await APIFixture.customizable()
        let held = Locked<[String]>([])
        try await fixture.test(.live) { client in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)"
            try await fixture.catalog("sdk.Noted", client: client)
            let created = try await client.call(
                .post, "/v1/tenants/acme/clients", token: fixture.acmeKey,
                json: #"{"name":"sdk service","kind":"service","scopes":["holds","events:publish"]}"#
            )
            let clientID = try #require(created.json["clientId"] as? String), clientSecret = try #require(created.json["clientSecret"] as? String)
            let platform = PlatformClient(baseURL: base, tenant: "acme", credentials: ClientCredentials(clientID: clientID, clientSecret: clientSecret))

            // The service: a Hummingbird app whose hook keeps the hold; registered to intercept.
            let registration = try await fixture.register(type: "sdk.Noted", mode: "intercept", url: "http://127.0.0.1:1/hooks/events", client: client)
            var hooks = TenantHooks(tenant: "acme", secrets: [try WebhookSecret(registration.secret)])
            hooks.onEvent(Noted.self) { _, event in held.withLock { $0.append(event.hold ?? "") } }
            let router = Router()
            hooks.addRoutes(to: router)
            try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { service in
                let servicePort = try #require(service.port)
                let moved = try await client.call(
                    .patch, "/v1/tenants/acme/customizations/\(registration.id)", token: fixture.acmeKey,
                    json: #"{"url":"http://127.0.0.1:\#(servicePort)/hooks/events"}"#
                )
                #expect(moved.status == .ok, "\(moved.text)")
                _ = try await client.call(
                    .post, "/v1/tenants/acme/subscriptions", token: fixture.acmeKey, json: #"{"name":"product","types":["sdk.*"]}"#
                )
                try await fixture.publish(id: "n-1", type: "sdk.Noted", client: client)
                var hold = ""
                let deadline = ContinuousClock.now + .seconds(10)
                while hold.isEmpty, ContinuousClock.now < deadline {
                    hold = held.withLock { $0.first ?? "" }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(!hold.isEmpty, "the intercepted event reached the service with its hold")
                // Held: the product's subscription sees nothing yet.
                let before = try await client.call(
                    .post, "/v1/tenants/acme/subscriptions/product/pull", token: fixture.acmeKey, json: #"{"max":10,"waitMs":0}"#
                )
                #expect((before.json["messages"] as? [Any])?.isEmpty ?? true, "\(before.text)")

                try await platform.resume(hold: hold)
                let second = await #expect(throws: PlatformError.self) { try await platform.resume(hold: hold) }
                #expect(second?.status == 409 || second?.status == 404, "a second resume is refused as not held: \(String(describing: second))")
                try await platform.publish(type: "sdk.Scanned", id: "s-1", source: "/sdk-test", data: ["orderId": "o-1"])
                // A service cannot act for another tenant with its token.
                let other = PlatformClient(baseURL: base, tenant: "globex", credentials: ClientCredentials(clientID: clientID, clientSecret: clientSecret))
                let foreignPublish = await #expect(throws: PlatformError.self) {
                    try await other.publish(type: "sdk.Scanned", id: "s-2", source: "/sdk-test", data: ["orderId": "o-2"])
                }
                #expect(foreignPublish?.status == 404, "another tenant's path is answered as if it did not exist")

                let after = try await client.pull("/v1/tenants/acme/subscriptions/product/pull", token: fixture.acmeKey, count: 2)
                let types = after.compactMap { ($0["event"] as? [String: Any])?["type"] as? String }
                #expect(types.sorted() == ["sdk.Noted", "sdk.Scanned"])
            }
        }
    }
}
