import BespokeCore
import BespokeTestSupport
import BespokeWebhooks
import Foundation
import HummingbirdTesting
import Testing

/// Observe and intercept through real HTTP pushes to a receiver on loopback.
@Suite("Customization: observe, intercept, hold, resume")
struct CustomizationFlowTests {
    @Test func anObserverGetsASignedCopyAndTheProductIsNotHeldUp() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            try await fixture.productSubscribes()
            try await fixture.productSubscribes("globex")
            let (id, secret) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            #expect(secret.hasPrefix("whsec_"))
            let receipt = try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            #expect(receipt["sequence"] is Int)
            #expect(receipt["holdId"] == nil)
            try await fixture.publish("globex", id: "g-1", type: "OrderSubmitted", client: client)

            let product = try await fixture.productReceives()
            #expect(product.map(\.id) == ["o-1"])
            let push = try #require(try await receiver.waitFor(1).first)
            #expect(push.eventID == "o-1")
            #expect(push.headers["content-type"] == "application/cloudevents+json")
            #expect(push.event["tenantid"] as? String == "acme")
            // Signed per Standard Webhooks with the secret shown at registration.
            try WebhookSignature.verify(body: push.body, header: { push.headers[$0] }, secrets: [try WebhookSecret(secret)])
            #expect(throws: WebhookVerificationError.self) {
                try WebhookSignature.verify(body: push.body, header: { push.headers[$0] }, secrets: [WebhookSecret.generate()])
            }
            // Globex's event never reaches acme's observer; the globex product got its own.
            try await Task.sleep(for: .milliseconds(200))
            #expect(receiver.all.count == 1)
            #expect(try await fixture.productReceives("globex").map(\.id) == ["g-1"])

            // The attempt is logged, for acme only.
            try await fixture.eventually("the attempt is logged") {
                let attempts = try await client.call(.get, "/v1/tenants/acme/customizations/\(id)/attempts", token: fixture.acmeKey)
                return (attempts.json["attempts"] as? [[String: Any]])?.first?["status"] as? Int == 204
            }
            #expect(try await client.call(.get, "/v1/tenants/globex/customizations/\(id)/attempts", token: fixture.globexKey).status == .notFound)
        }
    }

    @Test func anInterceptedEventReachesTheProductOnlyWhenResumedWithAllowedChanges() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderAwaitingValidation", client: client)
            try await fixture.productSubscribes()
            _ = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, client: client)
            let receipt = try await fixture.publish(id: "o-1", type: "OrderAwaitingValidation", client: client)
            #expect(receipt["sequence"] == nil)
            let holdID = try #require(receipt["holdId"] as? String)

            // Held: pushed to the tenant, not seen by the product.
            let push = try #require(try await receiver.waitFor(1).first)
            let ticket = try #require(push.holdTicket)
            #expect(ticket == "\(holdID).0")
            #expect(try await fixture.productReceives(wait: .milliseconds(300)).isEmpty)
            let shown = try await client.call(.get, "/v1/tenants/acme/holds/\(holdID)", token: fixture.acmeKey)
            #expect(shown.json["state"] as? String == "held")

            // Another tenant can neither see nor resume it.
            #expect(try await client.call(.get, "/v1/tenants/globex/holds/\(holdID)", token: fixture.globexKey).status == .notFound)
            #expect(try await client.call(.post, "/v1/tenants/globex/holds/\(ticket)/resume", token: fixture.globexKey).status == .notFound)
            #expect(try await client.call(.post, "/v1/tenants/acme/holds/\(ticket)/resume", token: fixture.globexKey).status == .notFound)

            // Changes outside the catalog's mutable fields, or against the schema, are refused.
            let resume = "/v1/tenants/acme/holds/\(ticket)/resume"
            let forbidden = try await client.call(.post, resume, token: fixture.acmeKey, json: #"{"data":{"orderId":"o-2"}}"#)
            #expect(forbidden.status == .unprocessableContent)
            #expect(forbidden.errorCode == "forbidden_change")
            let invalid = try await client.call(.post, resume, token: fixture.acmeKey, json: #"{"data":{"note":42}}"#)
            #expect(invalid.errorCode == "schema_violation")
            #expect(try await fixture.productReceives(wait: .milliseconds(100)).isEmpty)

            // An allowed change: the product sees the changed event, once.
            let resumed = try await client.call(.post, resume, token: fixture.acmeKey, json: #"{"data":{"note":"scanned"}}"#)
            #expect(resumed.status == .noContent, "\(resumed.text)")
            let product = try await fixture.productReceives()
            #expect(product.map(\.id) == ["o-1"])
            #expect(product.first?.data?["note"] == .string("scanned"))
            #expect(product.first?.data?["orderId"] == .string("o-1"))
            // Settled: the ticket no longer works, and publishing the event again is a duplicate.
            #expect(try await client.call(.post, resume, token: fixture.acmeKey).status == .notFound)
            let again = try await client.call(
                .post, "/v1/tenants/acme/events", token: fixture.acmeKey,
                json: #"{"specversion":"1.0","id":"o-1","source":"/shop","type":"OrderAwaitingValidation","data":{"orderId":"o-1"}}"#
            )
            #expect(again.json["duplicate"] as? Bool == true)
            #expect(try await fixture.productReceives(wait: .milliseconds(200)).isEmpty)
        }
    }

    @Test func laterEventsOfTheSameKeyWaitBehindAHoldAndCancelLetsThemGo() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderAwaitingValidation", client: client)
            try await fixture.productSubscribes()
            _ = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, client: client)
            try await fixture.publish(id: "a-1", type: "OrderAwaitingValidation", key: "order-a", client: client)
            let queued = try await fixture.publish(id: "a-2", type: "OrderPaid", key: "order-a", client: client)
            #expect(queued["holdId"] is String)
            try await fixture.publish(id: "b-1", type: "OrderPaid", key: "order-b", client: client)
            // Another key is not held up.
            #expect(try await fixture.productReceives().map(\.id) == ["b-1"])
            let waiting = try await client.call(.get, "/v1/tenants/acme/holds?state=waiting", token: fixture.acmeKey)
            #expect((waiting.json["holds"] as? [[String: Any]])?.map { $0["eventId"] as? String } == ["a-2"])

            let ticket = try #require(try await receiver.waitFor(1).first?.holdTicket)
            for query in ["limit=0", "limit=many", "state=", "state=held,gone"] {
                let refused = try await client.call(.get, "/v1/tenants/acme/holds?\(query)", token: fixture.acmeKey)
                #expect(refused.errorCode == "invalid_request", "\(query)")
            }
            let noReason = try await client.call(
                .post, "/v1/tenants/acme/holds/\(ticket)/cancel", token: fixture.acmeKey, json: #"{"reason":""}"#
            )
            #expect(noReason.errorCode == "invalid_request")
            let cancelled = try await client.call(
                .post, "/v1/tenants/acme/holds/\(ticket)/cancel", token: fixture.acmeKey, json: #"{"reason":"fraud"}"#
            )
            #expect(cancelled.status == .noContent)
            // The cancelled event never reaches the product; the one behind it does.
            #expect(try await fixture.productReceives().map(\.id) == ["a-2"])
            let closed = try await client.call(.get, "/v1/tenants/acme/holds?state=cancelled", token: fixture.acmeKey)
            let hold = try #require((closed.json["holds"] as? [[String: Any]])?.first)
            #expect(hold["eventId"] as? String == "a-1")
            #expect(hold["reason"] as? String == "fraud")
        }
    }

    @Test func chainedInterceptorsEachSeeTheEventOnceInOrder() async throws {
        let fixture = try await APIFixture.customizable()
        let first = try await WebhookReceiver.start()
        let second = try await WebhookReceiver.start()
        defer { first.stop(); second.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderAwaitingValidation", client: client)
            try await fixture.productSubscribes()
            // Registered in the opposite order to their `order`.
            _ = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: second.url, extra: #","order":2"#, client: client)
            _ = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: first.url, extra: #","order":1"#, client: client)
            try await fixture.publish(id: "o-1", type: "OrderAwaitingValidation", client: client)

            let ticket1 = try #require(try await first.waitFor(1).first?.holdTicket)
            #expect(second.all.isEmpty)
            let resumed = try await client.call(
                .post, "/v1/tenants/acme/holds/\(ticket1)/resume", token: fixture.acmeKey, json: #"{"data":{"note":"first"}}"#
            )
            #expect(resumed.status == .noContent)
            let push2 = try #require(try await second.waitFor(1).first)
            #expect(push2.data["note"] as? String == "first")
            let ticket2 = try #require(push2.holdTicket)
            #expect(ticket2.hasSuffix(".1"))
            #expect(try await fixture.productReceives(wait: .milliseconds(200)).isEmpty)
            // The first interceptor's ticket is stale now.
            let stale = try await client.call(.post, "/v1/tenants/acme/holds/\(ticket1)/resume", token: fixture.acmeKey)
            #expect(stale.errorCode == "stale_hold")

            #expect(try await client.call(.post, "/v1/tenants/acme/holds/\(ticket2)/resume", token: fixture.acmeKey).status == .noContent)
            let product = try await fixture.productReceives()
            #expect(product.map(\.id) == ["o-1"])
            #expect(product.first?.data?["note"] == .string("first"))
            // Neither interceptor saw it twice.
            #expect(first.all.count == 1)
            #expect(second.all.count == 1)
        }
    }

    @Test func holdsPastTheirDeadlineTakeTheirOutcome() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.productSubscribes()
            for (type, outcome) in [("OrderResume", "resume"), ("OrderCancel", "cancel"), ("OrderDead", "dead-letter")] {
                try await fixture.catalog(type, client: client)
                _ = try await fixture.register(
                    type: type, mode: "intercept", url: receiver.url, extra: #","holdDeadlineMs":300,"onDeadline":"\#(outcome)""#,
                    client: client
                )
                try await fixture.publish(id: type, type: type, client: client)
            }
            try await receiver.waitFor(3)
            // Only the `resume` outcome reaches the product, after the deadline.
            #expect(try await fixture.productReceives(wait: .seconds(1)).map(\.id) == ["OrderResume"])
            let cancelled = try await client.call(.get, "/v1/tenants/acme/holds?state=cancelled", token: fixture.acmeKey)
            #expect((cancelled.json["holds"] as? [[String: Any]])?.map { $0["eventId"] as? String } == ["OrderCancel"])
            let dead = try await client.call(.get, "/v1/tenants/acme/holds?state=dead-lettered", token: fixture.acmeKey)
            let deadHold = try #require((dead.json["holds"] as? [[String: Any]])?.first)
            #expect(deadHold["eventId"] as? String == "OrderDead")
            #expect((deadHold["reason"] as? String)?.contains("deadline") == true)
            let active = try await client.call(.get, "/v1/tenants/acme/holds", token: fixture.acmeKey)
            #expect((active.json["holds"] as? [[String: Any]])?.isEmpty == true)
        }
    }

    @Test func eventsPublishedTooDeepInAChainOfReactionsAreRefused() async throws {
        let fixture = try await APIFixture.customizable()
        try await fixture.test { client in
            let deep = try await client.call(
                .post, "/v1/tenants/acme/events", token: fixture.acmeKey, json: cloudEvent("d-9", extra: #","bespokedepth":9"#)
            )
            #expect(deep.status == .unprocessableContent)
            #expect(deep.errorCode == "depth_exceeded")
            let bad = try await client.call(
                .post, "/v1/tenants/acme/events", token: fixture.acmeKey, json: cloudEvent("d-x", extra: #","bespokedepth":-1"#)
            )
            #expect(bad.errorCode == "invalid_attribute")
            let fine = try await client.call(
                .post, "/v1/tenants/acme/events", token: fixture.acmeKey, json: cloudEvent("d-8", extra: #","bespokedepth":8"#)
            )
            #expect(fine.status == .created)
        }
    }
}
