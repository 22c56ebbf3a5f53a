import BespokeCore
import BespokeTestSupport
import Foundation
import HummingbirdTesting
import Testing

/// A registration's own limit of pushes of one event, below the platform's retry schedule.
@Suite("Customization: attempt limits")
struct CustomizationRetryLimitTests {
    @Test func anObserversEventIsDeadLetteredAfterItsOwnAttemptsAndAnotherKeepsTheSchedule() async throws {
        // The schedule has three delays: four attempts without a limit of its own.
        let fixture = try await APIFixture.customizable()
        let limited = try await WebhookReceiver.start { _, _ in (503, [:]) }
        let scheduled = try await WebhookReceiver.start { _, _ in (503, [:]) }
        defer {
            limited.stop()
            scheduled.stop()
        }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: limited.url, extra: #","maxAttempts":2"#, client: client)
            _ = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: scheduled.url, client: client)
            #expect(try await client.call(.get, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey).json["maxAttempts"] as? Int == 2)
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            let letters = "/v1/tenants/acme/subscriptions/customization.\(id)/dead-letters"
            try await fixture.eventually("the push is dead-lettered after two attempts") {
                let page = try await client.call(.get, letters, token: fixture.acmeKey)
                return (page.json["deadLetters"] as? [[String: Any]])?.first?["attempts"] as? Int == 2
            }
            _ = try await scheduled.waitFor(4)
            try await Task.sleep(for: .milliseconds(300))
            #expect(limited.all.count == 2)
            #expect(scheduled.all.count == 4)

            // Removed (`null`): the schedule's attempts again.
            let removed = try await client.call(.patch, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey, json: #"{"maxAttempts":null}"#)
            #expect(removed.status == .ok, "\(removed.text)")
            #expect(removed.json["maxAttempts"] == nil)
            try await fixture.publish(id: "o-2", type: "OrderSubmitted", client: client)
            #expect(try await limited.waitFor(6).suffix(4).allSatisfy { $0.eventID == "o-2" })
        }
    }

    @Test func anInterceptorsEventIsPushedNoMoreThanItsAttemptsAndStaysHeld() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start { _, _ in (503, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderAwaitingValidation", client: client)
            _ = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, extra: #","maxAttempts":1"#, client: client)
            let receipt = try await fixture.publish(id: "h-1", type: "OrderAwaitingValidation", client: client)
            let holdID = try #require(receipt["holdId"] as? String)
            _ = try await receiver.waitFor(1)
            // The schedule's delays (100, 200, 300 ms) would have pushed it three more times.
            try await Task.sleep(for: .milliseconds(900))
            #expect(receiver.all.count == 1)
            let hold = try await client.call(.get, "/v1/tenants/acme/holds/\(holdID)", token: fixture.acmeKey)
            #expect(hold.json["state"] as? String == "held")
        }
    }

    @Test func badAttemptLimitsAreRefused() async throws {
        try await APIFixture.withReceiver(catalog: ["OrderSubmitted"]) { fixture, receiver, client in
            let base = "/v1/tenants/acme/customizations"
            for attempts in ["0", "5"] {
                let refused = try await client.call(
                    .post, base, token: fixture.acmeKey, json: #"{"eventType":"OrderSubmitted","mode":"observe","url":"\#(receiver.url)","maxAttempts":\#(attempts)}"#
                )
                #expect(refused.errorCode == "invalid_request", "\(attempts): \(refused.text)")
                #expect(refused.text.contains("maxAttempts must be between 1 and 4"), "\(refused.text)")
            }
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            for bad in [#""many""#, "2.5"] {
                let refused = try await client.call(.patch, "\(base)/\(id)", token: fixture.acmeKey, json: #"{"maxAttempts":\#(bad)}"#)
                #expect(refused.errorCode == "invalid_request", "\(bad): \(refused.text)")
            }
            let slot = try await fixture.registerSlot(url: receiver.url, extra: #","maxAttempts":1"#, client: client)
            #expect(slot.text.contains("maxAttempts applies to observers and interceptors only"), "\(slot.text)")
        }
    }
}
