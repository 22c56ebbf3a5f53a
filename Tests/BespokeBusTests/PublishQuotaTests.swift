@testable import BespokeBus
import BespokeCore
import BespokeStorage
import Foundation
import Testing

@Suite("Event bus: per-tenant publish quota")
struct PublishQuotaTests {
    static func batch(_ prefix: String, _ count: Int) -> [CloudEvent] {
        (0..<count).map { event("\(prefix)-\($0)") }
    }

    /// The error `body` throws, nil when it succeeds.
    static func refusal(_ body: @Sendable () async throws -> Void) async -> BespokeError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? BespokeError ?? BespokeError(.storageFailure, "\(error)")
        }
    }

    @Test func aTenantOverItsQuotaIsPacedThenRefusedWhileAnotherTenantIsNot() async throws {
        let store = try await makeStore()
        var configuration = BusConfiguration()
        // One event every two seconds, one at once; a publish may wait 2.5 s.
        configuration.publishQuota = PublishQuota(eventsPerSecond: 0.5, burst: 1, maxWait: .milliseconds(2500))
        try await withRunningBus(store: store, configuration: configuration) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "all", types: [])
            let clock = ContinuousClock()
            let started = clock.now
            // The burst goes through at once; the next event is two seconds ahead of the quota
            // and is paced. Globex, publishing meanwhile, is not.
            _ = try await bus.publish(event("a"), tenant: acme)
            let paced = Task { _ = try await bus.publish(event("b"), tenant: acme) }
            try await Task.sleep(for: .milliseconds(100))
            _ = try await bus.publish(event("g"), tenant: globex)
            let globexDone = clock.now
            try await paced.value
            let acmeDone = clock.now
            #expect(acmeDone - started >= .seconds(2), "acme's second event went on after \(acmeDone - started)")
            #expect(globexDone < acmeDone)

            // Two at once: the first waits two seconds, the second would wait four, past the
            // quota's wait: refused with a retry time, and nothing of it is stored.
            async let first = Self.refusal { _ = try await bus.publish(event("c"), tenant: acme) }
            async let second = Self.refusal { _ = try await bus.publish(event("d"), tenant: acme) }
            let refused = await [first, second].compactMap { $0 }
            #expect(refused.count == 1)
            #expect(refused.first?.code == .rateLimited)
            #expect((refused.first?.retryAfterSeconds ?? 0) >= 3)
            #expect(refused.first?.message.contains("quota of 0.5 events/s") == true)
            try await eventually("the stored events") { try await bus.pendingCount(tenant: acme, subscription: "all") == 3 }
        }
    }

    @Test func platformEventsAndTenantsWithoutAQuotaAreNeverHeldBack() async throws {
        let store = try await makeStore()
        var limited = BusConfiguration()
        limited.publishQuota = PublishQuota(eventsPerSecond: 0.001, burst: 1, maxWait: .zero)
        try await withRunningBus(store: store, configuration: limited) { bus in
            _ = try await bus.publish(event("first"), tenant: acme)
            // The tenant's own next event is refused (its quota is spent for the next 1000 s)...
            await #expect(throws: BespokeError.self) { _ = try await bus.publish(event("second"), tenant: acme) }
            // ...the platform's operational event about it is not.
            let receipt = try await bus.publish(event("endpoint-disabled"), tenant: acme, quota: .platform)
            #expect(receipt.duplicate == false)
        }
        var unlimited = BusConfiguration()
        unlimited.publishQuota = nil
        try await withRunningBus(store: try await makeStore(), configuration: unlimited) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "all", types: [])
            // Under the quota above these would take 3000 s; without one they go at once.
            for round in 0..<3 {
                _ = try await bus.publish(Self.batch("r\(round)", 100), tenant: acme)
            }
            #expect(try await bus.pendingCount(tenant: acme, subscription: "all") == 300)
        }
    }

    @Test func reservationsTakeTokensAheadAndRefuseWaitsPastTheBound() {
        let limiter = TenantRateLimiter(default: .init(rate: 100, burst: 50))
        let start = ContinuousClock.now
        #expect(limiter.reserve(acme, tokens: 50, maxWait: .seconds(1), now: start) == .granted)
        // 50 tokens short at 100/s: half a second ahead.
        #expect(limiter.reserve(acme, tokens: 50, maxWait: .seconds(1), now: start) == .after(.milliseconds(500)))
        // 100 short: past a bound of 0.8 s, refused; nothing taken, so a smaller wait still fits.
        #expect(limiter.reserve(acme, tokens: 50, maxWait: .milliseconds(800), now: start) == .refused(retryAfter: .seconds(1)))
        #expect(limiter.reserve(acme, tokens: 10, maxWait: .milliseconds(800), now: start) == .after(.milliseconds(600)))
        // Time refills the bucket, up to the burst.
        #expect(limiter.reserve(acme, tokens: 10, maxWait: .zero, now: start + .seconds(2)) == .granted)
        // A batch larger than the burst goes from a full bucket and leaves it in debt, which
        // the next caller waits out: 200 taken from 50 is 150 short, 1.5 s at 100/s.
        #expect(limiter.reserve(globex, tokens: 200, maxWait: .zero, now: start) == .granted)
        #expect(limiter.reserve(globex, tokens: 1, maxWait: .seconds(5), now: start) == .after(.milliseconds(1510)))
        // Not full: it waits until the bucket is, and is refused past the bound.
        let other = TenantID(trusted: "initech")
        #expect(limiter.reserve(other, tokens: 25, maxWait: .zero, now: start) == .granted)
        #expect(limiter.reserve(other, tokens: 200, maxWait: .zero, now: start) == .refused(retryAfter: .milliseconds(250)))
    }

    @Test func aZeroRateNeverTrapsAndWaitsAreBounded() {
        let limiter = TenantRateLimiter(default: .init(rate: 0, burst: 1))
        let start = ContinuousClock.now
        #expect(limiter.reserve(acme, tokens: 1, maxWait: .zero, now: start) == .granted)
        guard case .refused(let retry) = limiter.reserve(acme, tokens: 1, maxWait: .seconds(1), now: start) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(retry > .seconds(1) && retry <= .seconds(86_400))
        #expect(limiter.acquire(acme, now: start) != nil)
        #expect(PublishQuota(eventsPerSecond: 0, burst: 0).eventsPerSecond > 0)
        #expect(PublishQuota(eventsPerSecond: .nan, burst: .infinity).burst >= 1)
    }
}
