import BespokeCore
import BespokeTestSupport
import Foundation
import HummingbirdTesting
import Testing

/// Filters: which events of its type an observer is pushed and an interceptor holds.
@Suite("Customization: filters")
struct CustomizationFilterTests {
    @Test func anObserverIsPushedOnlyTheEventsItsFilterTakesAndTheProductGetsThemAll() async throws {
        try await APIFixture.withReceiver(catalog: ["OrderSubmitted"]) { fixture, receiver, client in
            let (id, _) = try await fixture.register(
                type: "OrderSubmitted", mode: "observe", url: receiver.url, extra: #","filter":{"prefix":{"data.orderId":"big-"}}"#, client: client
            )
            let shown = try await client.call(.get, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey)
            #expect((shown.json["filter"] as? [String: Any])?["prefix"] as? [String: String] == ["data.orderId": "big-"])

            for order in ["small-1", "big-1", "small-2"] {
                try await fixture.publish(id: order, type: "OrderSubmitted", data: #"{"orderId":"\#(order)"}"#, client: client)
            }
            #expect(try await receiver.waitFor(1).map(\.eventID) == ["big-1"])
            #expect(Set(try await fixture.productReceives().map(\.id)) == ["small-1", "big-1", "small-2"])
            // The events turned away were settled unpushed, and left no attempt.
            try await fixture.eventually("the observer's subscription is settled") {
                try await fixture.bus.pendingCount(tenant: TenantID(trusted: "acme"), subscription: "customization.\(id)") == 0
            }
            #expect(receiver.all.count == 1)
            try await fixture.eventually("one attempt is logged") { try await fixture.attemptStatuses(of: id, client: client) == [204] }

            // Removed (`null`): every event of the type is pushed again.
            let removed = try await client.call(.patch, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey, json: #"{"filter":null}"#)
            #expect(removed.status == .ok, "\(removed.text)")
            #expect(removed.json["filter"] == nil)
            // Absent: kept as it is (none now).
            let kept = try await client.call(.patch, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey, json: #"{"order":1}"#)
            #expect(kept.json["filter"] == nil)
            try await fixture.publish(id: "small-3", type: "OrderSubmitted", data: #"{"orderId":"small-3"}"#, client: client)
            #expect(try await receiver.waitFor(2).map(\.eventID) == ["big-1", "small-3"])
        }
    }

    @Test func anInterceptorHoldsOnlyWhatItsFilterTakesAsTheEventReachesIt() async throws {
        try await APIFixture.withReceiver(catalog: ["OrderAwaitingValidation"]) { fixture, receiver, client in
            // First every event, then (order 1) those the first marked for a check.
            _ = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, client: client)
            _ = try await fixture.register(
                type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url,
                extra: #","order":1,"filter":{"any":[{"exact":{"data.note":"check"}},{"suffix":{"data.orderId":"-x"}}]}"#, client: client
            )
            for order in ["a-1", "a-2"] {
                let receipt = try await fixture.publish(id: order, type: "OrderAwaitingValidation", data: #"{"orderId":"\#(order)"}"#, client: client)
                #expect(receipt["holdId"] != nil)
            }
            let first = try await receiver.waitFor(2)
            #expect(Set(first.map(\.eventID)) == ["a-1", "a-2"])
            // a-1 is marked for the check: the second interceptor takes it as changed. a-2 is not,
            // and goes on to the product.
            for push in first {
                try await fixture.resume(push, push.eventID == "a-1" ? #"{"data":{"note":"check"}}"# : "{}", client: client)
            }
            #expect(try await fixture.productReceives().map(\.id) == ["a-2"])
            let second = try await receiver.waitFor(3)
            #expect(second.last?.eventID == "a-1")
            #expect((second.last?.event["data"] as? [String: Any])?["note"] as? String == "check")
            try await fixture.resume(try #require(second.last), "{}", client: client)
            #expect(try await fixture.productReceives().map(\.id) == ["a-1"])

            // Taken by the second's filter as published too: a-3-x goes to both interceptors.
            _ = try await fixture.publish(id: "a-3-x", type: "OrderAwaitingValidation", data: #"{"orderId":"a-3-x"}"#, client: client)
            try await fixture.resume(try #require(try await receiver.waitFor(4).last), "{}", client: client)
            try await fixture.resume(try #require(try await receiver.waitFor(5).last), "{}", client: client)
            #expect(try await fixture.productReceives().map(\.id) == ["a-3-x"])
        }
    }

    @Test func anEventAFilterTurnedAwayStaysBehindThatInterceptorWhateverItBecomes() async throws {
        try await APIFixture.withReceiver(catalog: ["OrderAwaitingValidation"]) { fixture, receiver, client in
            // First (order 0) the events marked for a check, then (order 1) every event.
            _ = try await fixture.register(
                type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, extra: #","filter":{"exact":{"data.note":"check"}}"#,
                client: client
            )
            _ = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, extra: #","order":1"#, client: client)
            // Marked when published: the first takes it, then the second.
            _ = try await fixture.publish(id: "b-1", type: "OrderAwaitingValidation", data: #"{"orderId":"b-1","note":"check"}"#, client: client)
            let atFirst = try #require(try await receiver.waitFor(1).last)
            #expect(atFirst.holdTicket?.hasSuffix(".0") == true)
            try await fixture.resume(atFirst, client: client)
            let atSecond = try #require(try await receiver.waitFor(2).last)
            #expect(atSecond.eventID == "b-1")
            #expect(atSecond.holdTicket?.hasSuffix(".1") == true)
            try await fixture.resume(atSecond, client: client)
            #expect(try await fixture.productReceives().map(\.id) == ["b-1"])

            // Not marked: only the second takes it. Marked by the second, it goes on to the
            // product; it does not go back to the first, which it is already past.
            _ = try await fixture.publish(id: "b-2", type: "OrderAwaitingValidation", data: #"{"orderId":"b-2"}"#, client: client)
            let held = try #require(try await receiver.waitFor(3).last)
            #expect(held.eventID == "b-2")
            #expect(held.holdTicket?.hasSuffix(".0") == true)
            try await fixture.resume(held, #"{"data":{"note":"check"}}"#, client: client)
            let product = try await fixture.productReceives()
            #expect(product.map(\.id) == ["b-2"])
            #expect(product.first?.data?["note"] == .string("check"))
            #expect(receiver.all.count == 3)
        }
    }

    @Test func badFiltersAndFiltersOfOtherModesAreRefused() async throws {
        try await APIFixture.withReceiver(catalog: ["OrderSubmitted"]) { fixture, receiver, client in
            let base = "/v1/tenants/acme/customizations"
            for (filter, message) in [
                (#"{"regex":{"source":"x"}}"#, "unknown dialect 'regex'"),
                (#"{"exact":{"data.total":12}}"#, "filter.exact.data.total must be a string"),
                (#""everything""#, "must be an object with one member"),
            ] {
                let refused = try await client.call(
                    .post, base, token: fixture.acmeKey,
                    json: #"{"eventType":"OrderSubmitted","mode":"observe","url":"\#(receiver.url)","filter":\#(filter)}"#
                )
                #expect(refused.status == .badRequest, "\(refused.text)")
                #expect(refused.errorCode == "invalid_request")
                #expect(refused.text.contains(message), "\(refused.text)")
            }
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            let badUpdate = try await client.call(.patch, "\(base)/\(id)", token: fixture.acmeKey, json: #"{"filter":{"not":[]}}"#)
            #expect(badUpdate.errorCode == "invalid_request", "\(badUpdate.text)")
            #expect(try await client.call(.get, "\(base)/\(id)", token: fixture.acmeKey).json["filter"] == nil)
            // A UI slot is filled for every page; a filter there is refused.
            let slot = try await fixture.registerSlot(url: receiver.url, extra: #","filter":{"exact":{"source":"x"}}"#, client: client)
            #expect(slot.errorCode == "invalid_request", "\(slot.text)")
            #expect(slot.text.contains("observers and interceptors only"), "\(slot.text)")
        }
    }
}
