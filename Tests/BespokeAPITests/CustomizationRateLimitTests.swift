import BespokeCore
import BespokeTestSupport
import Foundation
import HummingbirdTesting
import Testing

/// Rate limits per endpoint: pushes over the limit wait their turn, spaced evenly.
@Suite("Customization: rate limits")
struct CustomizationRateLimitTests {
    /// The gaps between consecutive pushes, in milliseconds.
    private func gaps(_ pushes: [WebhookReceiver.Received]) -> [Double] {
        zip(pushes.dropFirst(), pushes).map { later, earlier in
            let gap = later.receivedAt - earlier.receivedAt
            return Double(gap.components.seconds) * 1000 + Double(gap.components.attoseconds) / 1e15
        }
    }

    @Test func anObserversPushesAreSpacedByItsRateLimitAndNotWithoutOne() async throws {
        let fixture = try await APIFixture.customizable()
        let limited = try await WebhookReceiver.start()
        let free = try await WebhookReceiver.start()
        defer {
            limited.stop()
            free.stop()
        }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: limited.url, extra: #","rateLimit":10"#, client: client)
            _ = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: free.url, client: client)
            let shown = try await client.call(.get, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey)
            #expect(shown.json["rateLimit"] as? Double == 10)
            for index in 0..<12 {
                try await fixture.publish(id: "o-\(index)", type: "OrderSubmitted", data: #"{"orderId":"o-\#(index)"}"#, client: client)
            }
            let unlimited = try await free.waitFor(12)
            let paced = try await limited.waitFor(12, timeout: .seconds(20))
            #expect(Set(paced.compactMap(\.eventID)) == Set((0..<12).map { "o-\($0)" }))
            // 100 ms apart (a little less allowed for when the receiver sees them).
            let limitedGaps = gaps(paced)
            #expect(limitedGaps.allSatisfy { $0 >= 70 }, "\(limitedGaps)")
            #expect(limitedGaps.reduce(0, +) >= 1000, "\(limitedGaps)")
            // The other endpoint of the same type is not held to it.
            #expect(gaps(unlimited).reduce(0, +) < 1000, "\(gaps(unlimited))")

            // Removed: the next pushes come as fast as the endpoint takes them.
            let removed = try await client.call(.patch, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey, json: #"{"rateLimit":null}"#)
            #expect(removed.status == .ok, "\(removed.text)")
            #expect(removed.json["rateLimit"] == nil)
            try await Task.sleep(for: .milliseconds(200))
            for index in 12..<18 {
                try await fixture.publish(id: "o-\(index)", type: "OrderSubmitted", data: #"{"orderId":"o-\#(index)"}"#, client: client)
            }
            let after = Array(try await limited.waitFor(18).suffix(6))
            #expect(gaps(after).reduce(0, +) < 400, "\(gaps(after))")
        }
    }

    @Test func anInterceptorsPushesAreSpacedByItsRateLimit() async throws {
        try await APIFixture.withReceiver(catalog: ["OrderAwaitingValidation"]) { fixture, receiver, client in
            _ = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, extra: #","rateLimit":5"#, client: client)
            for index in 0..<4 {
                try await fixture.publish(id: "h-\(index)", type: "OrderAwaitingValidation", data: #"{"orderId":"h-\#(index)"}"#, client: client)
            }
            let pushes = try await receiver.waitFor(4)
            let spacing = gaps(pushes)
            #expect(spacing.allSatisfy { $0 >= 150 }, "\(spacing)")
        }
    }

    @Test func aHeldEventWhoseTurnWouldComeAfterItsDeadlineIsNotPushed() async throws {
        try await APIFixture.withReceiver(catalog: ["OrderAwaitingValidation"]) { fixture, receiver, client in
            // A push every 2 s at most; each hold lasts 1 s, then goes on unchanged.
            _ = try await fixture.register(
                type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url,
                extra: #","rateLimit":0.5,"holdDeadlineMs":1000,"onDeadline":"resume""#, client: client
            )
            for index in 0..<3 {
                try await fixture.publish(id: "d-\(index)", type: "OrderAwaitingValidation", data: #"{"orderId":"d-\#(index)"}"#, client: client)
            }
            #expect(try await receiver.waitFor(1).count == 1)
            // The others lapse at their deadlines and reach the product, never pushed: their
            // turns would have come after their deadlines.
            let product = try await fixture.productReceives(wait: .milliseconds(2500))
            #expect(Set(product.map(\.id)) == ["d-0", "d-1", "d-2"])
            try await Task.sleep(for: .milliseconds(500))
            #expect(receiver.all.count == 1, "\(receiver.all.map(\.eventID))")
        }
    }

    @Test func badRateLimitsAreRefused() async throws {
        try await APIFixture.withReceiver(catalog: ["OrderSubmitted"]) { fixture, receiver, client in
            let base = "/v1/tenants/acme/customizations"
            for rate in ["0", "-1", "20000"] {
                let refused = try await client.call(
                    .post, base, token: fixture.acmeKey, json: #"{"eventType":"OrderSubmitted","mode":"observe","url":"\#(receiver.url)","rateLimit":\#(rate)}"#
                )
                #expect(refused.errorCode == "invalid_request", "\(rate): \(refused.text)")
                #expect(refused.text.contains("rateLimit must be between 0.01 and 10000"), "\(refused.text)")
            }
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            let word = try await client.call(.patch, "\(base)/\(id)", token: fixture.acmeKey, json: #"{"rateLimit":"fast"}"#)
            #expect(word.errorCode == "invalid_request", "\(word.text)")
            let slot = try await fixture.registerSlot(url: receiver.url, extra: #","rateLimit":5"#, client: client)
            #expect(slot.text.contains("a rate limit applies to observers and interceptors only"), "\(slot.text)")
        }
    }
}
