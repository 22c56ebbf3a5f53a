import BespokeCore
import BespokeTestSupport
import BespokeWebhooks
import Foundation
import HummingbirdTesting
import Synchronization
import Testing

/// Pushes that fail, endpoints that go away or are slow, registrations that are refused.
@Suite("Webhook delivery: retries, disabling, isolation, outbound safety")
struct WebhookDeliveryTests {
    @Test func aReceiverThatIsDownGetsTheEventOnceItIsBack() async throws {
        let fixture = try await APIFixture.customizable()
        // Down (503, then a refused connection is simulated by 500) for two attempts, then up.
        let receiver = try await WebhookReceiver.start { index, _ in index < 2 ? (503, ["Retry-After": "0"]) : (200, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            let pushes = try await receiver.waitFor(3)
            #expect(pushes.map(\.eventID) == ["o-1", "o-1", "o-1"])
            // The same message id on every attempt, so the receiver can deduplicate.
            #expect(Set(pushes.compactMap { $0.headers["webhook-id"] }).count == 1)
            try await fixture.eventually("three attempts are logged") {
                let log = try await client.call(.get, "/v1/tenants/acme/customizations/\(id)/attempts", token: fixture.acmeKey)
                return (log.json["attempts"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [200, 503, 503]
            }
            try await Task.sleep(for: .milliseconds(400))
            #expect(receiver.all.count == 3)

            // The log is searched and paged.
            let attempts = "/v1/tenants/acme/customizations/\(id)/attempts"
            func statuses(_ query: String) async throws -> (statuses: [Int], next: String?) {
                let log = try await client.call(.get, "\(attempts)?\(query)", token: fixture.acmeKey)
                #expect(log.status == .ok, "\(query): \(log.text)")
                return ((log.json["attempts"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } ?? [], log.json["next"] as? String)
            }
            #expect(try await statuses("outcome=failed").statuses == [503, 503])
            #expect(try await statuses("outcome=succeeded&eventId=o-1").statuses == [200])
            #expect(try await statuses("eventId=o-2").statuses.isEmpty)
            #expect(try await statuses("since=2999-01-01T00:00:00Z").statuses.isEmpty)
            let first = try await statuses("limit=2")
            #expect(first.statuses == [200, 503])
            let next = try #require(first.next)
            let second = try await statuses("limit=2&before=\(next)")
            #expect(second.statuses == [503])
            #expect(second.next == nil)
            for bad in ["outcome=maybe", "since=yesterday", "before=abc", "before=-1", "limit=0", "eventId="] {
                let refused = try await client.call(.get, "\(attempts)?\(bad)", token: fixture.acmeKey)
                #expect(refused.status == .badRequest, "\(bad): \(refused.text)")
                #expect(refused.errorCode == "invalid_request", "\(bad)")
            }
            // Another tenant's key finds no such customization, whatever the filters.
            let foreign = try await client.call(.get, "/v1/tenants/globex/customizations/\(id)/attempts?outcome=failed", token: fixture.globexKey)
            #expect(foreign.status == .notFound)
        }
    }

    @Test func theTenantManagerDeletesAttemptsPastTheirRetentionInBatches() async throws {
        let fixture = try await APIFixture.customizable {
            $0.customization.attemptRetention = .seconds(86_400)
            // The dispatcher's own sweep does not run during the test: the counts are the manager's.
            $0.customization.attemptSweepInterval = .seconds(3600)
        }
        let receiver = try await WebhookReceiver.start { _, _ in (200, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            // More than two deletion batches of attempts made two days ago, then a push now.
            let manager = fixture.platform.manager
            try await fixture.recordOldAttempts(2_005, of: id, age: .seconds(2 * 86_400))
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            try await receiver.waitFor(1)
            try await fixture.eventually("the push is logged") { try await fixture.attemptStatuses(of: id, client: client)?.first == 200 }
            let swept = await manager.deleteExpiredAttempts()
            #expect(swept == 2_005)
            #expect(try await fixture.attemptStatuses(of: id, client: client) == [200])
            // A day on, the push's own attempt is past the retention too.
            #expect(await manager.deleteExpiredAttempts(now: Date().addingTimeInterval(86_400 + 60)) == 1)
            #expect(try await fixture.attemptStatuses(of: id, client: client)?.isEmpty == true)
        }
    }

    @Test func theDispatcherDeletesAttemptsPastTheirRetentionAsItGoes() async throws {
        let fixture = try await APIFixture.customizable {
            $0.customization.attemptRetention = .seconds(86_400)
            $0.customization.attemptSweepInterval = .milliseconds(100)
        }
        let receiver = try await WebhookReceiver.start { _, _ in (200, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            try await fixture.recordOldAttempts(50, of: id, age: .seconds(2 * 86_400))
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            try await receiver.waitFor(1)
            try await fixture.eventually("only the push of today is left in the log") {
                try await fixture.attemptStatuses(of: id, client: client) == [200]
            }
        }
    }

    @Test func aPushThatNeverSucceedsIsDeadLetteredAndCanBeReplayed() async throws {
        let fixture = try await APIFixture.customizable(schedule: [.milliseconds(50), .milliseconds(50)])
        let healthy = ManagedAtomicFlag()
        let receiver = try await WebhookReceiver.start { _, _ in healthy.isSet ? (200, [:]) : (500, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            try await receiver.waitFor(3)
            // Three attempts (the schedule has two delays), then a dead letter of the observer's subscription.
            let letters = "/v1/tenants/acme/subscriptions/customization.\(id)/dead-letters"
            try await fixture.eventually("the push is dead-lettered") {
                let page = try await client.call(.get, letters, token: fixture.acmeKey)
                return (page.json["deadLetters"] as? [[String: Any]])?.first?["eventId"] as? String == "o-1"
            }
            #expect(receiver.all.count == 3)
            // Replay once the endpoint is fixed.
            healthy.set()
            let replay = try await client.call(.post, letters + "/redrive", token: fixture.acmeKey, json: #"{"all":true}"#)
            #expect(replay.json["redriven"] as? Int == 1)
            let pushes = try await receiver.waitFor(4)
            #expect(pushes.last?.eventID == "o-1")
        }
    }

    @Test func anEndpointFailingPersistentlyIsDisabledAndItsTenantIsTold() async throws {
        let fixture = try await APIFixture.customizable(schedule: Array(repeating: .milliseconds(50), count: 50)) {
            $0.customization.disableAfter = .milliseconds(300)
        }
        let receiver = try await WebhookReceiver.start { _, _ in (500, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            _ = try await fixture.bus.createSubscription(tenant: TenantID(trusted: "acme"), name: "ops", types: ["bespoke.*"])
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            try await fixture.eventually("the endpoint is disabled") {
                let shown = try await client.call(.get, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey)
                return shown.json["enabled"] as? Bool == false
            }
            let shown = try await client.call(.get, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey)
            #expect((shown.json["disabledReason"] as? String)?.contains("every push failed") == true)
            let ops = try await fixture.bus.receive(tenant: TenantID(trusted: "acme"), subscription: "ops", max: 10, wait: .seconds(2))
            let event = try #require(try ops.first?.event())
            #expect(event.type == "bespoke.customization.disabled")
            #expect(event.data?["customizationId"] == .string(id))
            // Disabled: no more pushes.
            try await Task.sleep(for: .milliseconds(300))
            let count = receiver.all.count
            try await Task.sleep(for: .milliseconds(300))
            #expect(receiver.all.count == count)
        }
    }

    @Test func aGoneEndpointIsDisabledAtOnce() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start { _, _ in (410, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderAwaitingValidation", client: client)
            let (id, _) = try await fixture.register(type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, client: client)
            try await fixture.publish(id: "o-1", type: "OrderAwaitingValidation", client: client)
            try await fixture.eventually("the endpoint is disabled") {
                let shown = try await client.call(.get, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey)
                return (shown.json["disabledReason"] as? String)?.contains("410") == true
            }
            #expect(receiver.all.count == 1)
        }
    }

    @Test func aSlowEndpointOfOneTenantDoesNotDelayAnotherTenantsPushes() async throws {
        let fixture = try await APIFixture.customizable()
        let inFlight = InFlightCounter()
        let slow = try await WebhookReceiver.start { _, _ in
            inFlight.enter()
            try? await Task.sleep(for: .seconds(2))
            inFlight.leave()
            return (200, [:])
        }
        let fast = try await WebhookReceiver.start()
        defer { slow.stop(); fast.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            _ = try await fixture.register("acme", type: "OrderSubmitted", mode: "observe", url: slow.url, client: client)
            _ = try await fixture.register("globex", type: "OrderSubmitted", mode: "observe", url: fast.url, client: client)
            for index in 0..<40 {
                try await fixture.publish("acme", id: "a-\(index)", type: "OrderSubmitted", client: client)
            }
            let started = ContinuousClock.now
            for index in 0..<10 {
                try await fixture.publish("globex", id: "g-\(index)", type: "OrderSubmitted", client: client)
            }
            try await fast.waitFor(10, timeout: .seconds(5))
            let elapsed = ContinuousClock.now - started
            // Acme's endpoint takes 2 s a push, 4 at a time; globex's pushes do not queue behind them.
            #expect(elapsed < .seconds(1.5), "globex's pushes took \(elapsed)")
            #expect(inFlight.maximum <= 4, "acme's endpoint had \(inFlight.maximum) pushes in flight; its limit is 4")
            #expect(slow.all.count >= 1)
        }
    }

    @Test func hangingPushesDoNotKeepAnEndpointsFreeSlotsEmpty() async throws {
        let fixture = try await APIFixture.customizable()
        let released = ManagedAtomicFlag()
        // The first three pushes hang (more than half of the endpoint's 4 slots) until the test
        // lets them go; the others are answered at once.
        let receiver = try await WebhookReceiver.start { _, received in
            if received.eventID?.hasPrefix("hang") == true {
                let until = ContinuousClock.now + .seconds(4)
                while !released.isSet, ContinuousClock.now < until { try? await Task.sleep(for: .milliseconds(10)) }
            }
            return (200, [:])
        }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            _ = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            for index in 0..<3 {
                try await fixture.publish(id: "hang-\(index)", type: "OrderSubmitted", client: client)
            }
            _ = try await receiver.waitFor(3, timeout: .seconds(5))
            let started = ContinuousClock.now
            for index in 0..<10 {
                try await fixture.publish(id: "f-\(index)", type: "OrderSubmitted", client: client)
            }
            let pushes = try await receiver.waitFor(13, timeout: .seconds(5))
            let elapsed = ContinuousClock.now - started
            released.set()
            // The one free slot keeps serving while three pushes hang: not after they end.
            #expect(elapsed < .seconds(2), "the other pushes took \(elapsed)")
            #expect(Set(pushes.compactMap(\.eventID)) == Set((0..<3).map { "hang-\($0)" } + (0..<10).map { "f-\($0)" }))
        }
    }

    @Test func anObserverDisabledAndEnabledAgainBetweenTwoPassesOfTheSupervisorIsPushedToAgain() async throws {
        // Passes 3 s apart: the observer's loop sees the registration disabled when its
        // long-poll returns (within a second), well before the next pass; it must keep pushing
        // once enabled again (a loop that had ended by itself would not, until a restart).
        let fixture = try await APIFixture.customizable { $0.customization.reconcileInterval = .seconds(3) }
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            // Pushed as soon as a pass starts the loop; the next pass is 3 s later.
            _ = try await receiver.waitFor(1, timeout: .seconds(10))
            let path = "/v1/tenants/acme/customizations/\(id)"
            let disabled = try await client.call(.patch, path, token: fixture.acmeKey, json: #"{"enabled":false}"#)
            #expect(disabled.status == .ok, "\(disabled.text)")
            try await Task.sleep(for: .milliseconds(1300))
            let enabled = try await client.call(.patch, path, token: fixture.acmeKey, json: #"{"enabled":true}"#)
            #expect(enabled.status == .ok, "\(enabled.text)")
            try await fixture.publish(id: "o-2", type: "OrderSubmitted", client: client)
            let pushes = try await receiver.waitFor(2, timeout: .seconds(8))
            #expect(pushes.map(\.eventID) == ["o-1", "o-2"])
        }
    }

    @Test func registrationsAreValidated() async throws {
        let fixture = try await APIFixture.make()  // Outbound policy as in production: public addresses only.
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", interceptable: false, mutableFields: [], client: client)
            let base = "/v1/tenants/acme/customizations"
            for url in ["http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest", "http://[::1]/x", "http://localhost/x"] {
                let refused = try await client.call(
                    .post, base, token: fixture.acmeKey, json: #"{"eventType":"OrderSubmitted","mode":"observe","url":"\#(url)"}"#
                )
                #expect(refused.errorCode == "forbidden_endpoint", "\(url): \(refused.text)")
            }
            let scheme = try await client.call(
                .post, base, token: fixture.acmeKey, json: #"{"eventType":"OrderSubmitted","mode":"observe","url":"ftp://example.com/x"}"#
            )
            #expect(scheme.errorCode == "forbidden_endpoint")
            let unknown = try await client.call(
                .post, base, token: fixture.acmeKey, json: #"{"eventType":"Nope","mode":"observe","url":"http://127.0.0.1/x"}"#
            )
            #expect(unknown.errorCode == "unknown_event_type")
            let notInterceptable = try await client.call(
                .post, base, token: fixture.acmeKey, json: #"{"eventType":"OrderSubmitted","mode":"intercept","url":"http://127.0.0.1/x"}"#
            )
            #expect(notInterceptable.errorCode == "not_interceptable")
            let badMode = try await client.call(
                .post, base, token: fixture.acmeKey, json: #"{"eventType":"OrderSubmitted","mode":"watch","url":"http://127.0.0.1/x"}"#
            )
            #expect(badMode.errorCode == "invalid_request")
            // The catalog is the operator's: a tenant key cannot change it.
            #expect(try await client.call(.get, "/v1/admin/catalog", token: fixture.acmeKey).status == .unauthorized)
            let badSchema = try await client.call(.put, "/v1/admin/catalog/X", token: fixture.adminToken, json: #"{"schema":3}"#)
            #expect(badSchema.errorCode == "invalid_request")
        }
    }

    @Test func aRotatedSecretSignsBesideTheNewOneUntilTheOverlapEnds() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, old) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            let rotated = try await client.call(.post, "/v1/tenants/acme/customizations/\(id)/rotate-secret", token: fixture.acmeKey)
            let new = try #require(rotated.json["secret"] as? String)
            #expect(new != old)
            #expect(try await client.call(.get, "/v1/tenants/acme/customizations/\(id)", token: fixture.acmeKey).json["secret"] == nil)
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            let push = try #require(try await receiver.waitFor(1).first)
            #expect(push.headers["webhook-signature"]?.split(separator: " ").count == 2)
            for secret in [old, new] {
                try WebhookSignature.verify(body: push.body, header: { push.headers[$0] }, secrets: [try WebhookSecret(secret)])
            }
        }
    }
}

/// A flag tests flip while a receiver reads it.
final class ManagedAtomicFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Counts requests in flight at an endpoint and remembers the most at once.
final class InFlightCounter: Sendable {
    private let state = Mutex<(current: Int, maximum: Int)>((0, 0))

    func enter() { state.withLock { $0.current += 1; $0.maximum = max($0.maximum, $0.current) } }
    func leave() { state.withLock { $0.current -= 1 } }
    var maximum: Int { state.withLock { $0.maximum } }
}
