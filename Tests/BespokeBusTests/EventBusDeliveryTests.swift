@testable import BespokeBus
import BespokeCore
import BespokeSQLite
import BespokeStorage
import Foundation
import Synchronization
import Testing

@Suite("Event bus delivery")
struct EventBusDeliveryTests {
    @Test func deliversPublishedEventsToInProcessConsumers() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "ordering", types: ["Order*"])
            let recorder = Recorder()
            let consumer = Task {
                try await bus.consume(tenant: acme, subscription: "ordering") { recorder.record($0) }
            }
            for index in 0..<50 {
                let receipt = try await bus.publish(event("e\(index)"), tenant: acme)
                #expect(receipt.duplicate == false)
            }
            // Not matching the filter: never delivered.
            _ = try await bus.publish(event("other", type: "BasketCleared"), tenant: acme)
            try await eventually("50 deliveries") { recorder.count == 50 }
            try await Task.sleep(for: .milliseconds(100))
            consumer.cancel()
            #expect(Set(recorder.eventIDs) == Set((0..<50).map { "e\($0)" }))
            let first = try #require(recorder.all.first)
            #expect(try first.event().tenantID == "acme")
            #expect(try first.event().time != nil)
            try await eventually("acks committed") { try await bus.pendingCount(tenant: acme, subscription: "ordering") == 0 }
        }
    }

    @Test func settledEventsLeaveTheLogAfterTheirRetentionAndPendingOnesStay() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store, configuration: quickRetention()) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "s", types: [])
            _ = try await bus.publish((0..<3).map { event("settled-\($0)") }, tenant: acme)
            var settled: [String] = []
            while settled.count < 3 {
                let deliveries = try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(1))
                _ = try await bus.ack(tenant: acme, subscription: "s", deliveries.map(\.receipt))
                settled += deliveries.map(\.eventID)
            }
            _ = try await bus.publish(event("pending"), tenant: acme)
            try await eventually("the settled events are deleted") { try await storedEventIDs(store) == ["pending"] }
            // Past its retention too, but not delivered yet: it stays, the subscription is
            // reported as holding it back, and it is delivered.
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await storedEventIDs(store) == ["pending"])
            try await eventually("the subscription is reported") { bus.retentionHoldouts.withLock { $0.count } == 1 }
            let got = try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(1))
            #expect(got.map(\.eventID) == ["pending"])
            _ = try await bus.ack(tenant: acme, subscription: "s", got.map(\.receipt))
            try await eventually("settled, it is deleted and nothing is held back") {
                try await storedEventIDs(store).isEmpty && bus.retentionHoldouts.withLock { $0.isEmpty }
            }
        }
    }

    @Test func aSubscriptionOfOtherTypesDoesNotHoldItsTenantsLogBack() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store, configuration: quickRetention()) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "rare", types: ["OrderCancelled"])
            _ = try await bus.publish((0..<3).map { event("other-\($0)", type: "BasketCleared") }, tenant: acme)
            try await eventually("events no subscription selects are deleted") { try await storedEventIDs(store).isEmpty }
            // The cursor moved past them, not past what comes next.
            _ = try await bus.publish(event("cancelled", type: "OrderCancelled"), tenant: acme)
            let got = try await bus.receive(tenant: acme, subscription: "rare", max: 10, wait: .seconds(1))
            #expect(got.map(\.eventID) == ["cancelled"])
        }
    }

    @Test func theInboxForgetsHandledEventsPastItsRetention() async throws {
        let store = try await makeStore()
        var configuration = quickRetention()
        configuration.inboxRetention = .seconds(60)
        try await withRunningBus(store: store, configuration: configuration) { bus in
            let now = Date()
            for (key, age) in [("old-1", 90.0), ("old-2", 120.0), ("recent", 10.0)] {
                _ = try await store.markProcessed(tenant: acme, consumer: "ordering", eventKey: key, at: now.addingTimeInterval(-age))
            }
            try await eventually("the records past the retention are forgotten") {
                let first = try await store.isProcessed(tenant: acme, consumer: "ordering", eventKey: "old-1")
                let second = try await store.isProcessed(tenant: acme, consumer: "ordering", eventKey: "old-2")
                return !first && !second
            }
            #expect(try await store.isProcessed(tenant: acme, consumer: "ordering", eventKey: "recent"))
        }
    }

    @Test func publishingTheSameEventTwiceStoresAndDeliversItOnce() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "s", types: [])
            let first = try await bus.publish(event("same"), tenant: acme)
            let second = try await bus.publish(event("same"), tenant: acme)
            #expect(second.duplicate)
            #expect(second.sequence == first.sequence)
            let got = try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .milliseconds(200))
            #expect(got.map(\.eventID) == ["same"])
            #expect(try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .milliseconds(100)).isEmpty)
        }
    }

    @Test func aTenantNeverSeesOrSettlesAnotherTenantsEvents() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "orders", types: [])
            _ = try await bus.createSubscription(tenant: globex, name: "orders", types: [])
            _ = try await bus.publish(event("acme-1"), tenant: acme)
            let acmeGot = try await bus.receive(tenant: acme, subscription: "orders", max: 10, wait: .seconds(1))
            #expect(acmeGot.map(\.eventID) == ["acme-1"])
            #expect(try await bus.receive(tenant: globex, subscription: "orders", max: 10, wait: .milliseconds(200)).isEmpty)

            let foreign = try #require(acmeGot.first).receipt
            #expect(try await bus.ack(tenant: globex, subscription: "orders", [foreign]) == [foreign])
            await #expect { try await bus.nack(tenant: globex, subscription: "orders", foreign, reason: "x") } throws: {
                ($0 as? BespokeError)?.code == .notFound
            }
            #expect(try await bus.pendingCount(tenant: acme, subscription: "orders") == 1)
            // A tenant cannot publish into another tenant's namespace.
            var spoofed = event("spoof")
            spoofed.tenantID = "acme"
            await #expect { try await bus.publish(spoofed, tenant: globex) } throws: {
                ($0 as? BespokeError)?.code == .tenantMismatch
            }
            #expect(try await bus.ack(tenant: acme, subscription: "orders", [foreign]).isEmpty)
            #expect(try await bus.pendingCount(tenant: acme, subscription: "orders") == 0)
        }
    }

    @Test func eventsWithTheSameKeyArriveInOrderDespiteRetries() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "ordered", types: [], policy: quickPolicy(maxAttempts: 10))
            let keys = ["order-1", "order-2", "order-3", "order-4"]
            let count = 80
            for index in 0..<count {
                _ = try await bus.publish(event("e\(index)", key: keys[index % keys.count]), tenant: acme)
            }
            let recorder = Recorder()
            let attempts = Mutex<[String: Int]>([:])
            let consumer = Task {
                try await bus.consume(tenant: acme, subscription: "ordered", concurrency: 4, batchSize: 8) { delivery in
                    let attempt = attempts.withLock { $0[delivery.eventID, default: 0] += 1; return $0[delivery.eventID]! }
                    // Every third event fails twice before it succeeds.
                    if Int(delivery.eventID.dropFirst())! % 3 == 0, attempt <= 2 {
                        throw HandlerFailure(description: "transient failure \(attempt)")
                    }
                    recorder.record(delivery)
                }
            }
            try await eventually("all handled") { recorder.count == count }
            consumer.cancel()
            for key in keys {
                let handled = recorder.all.filter { $0.partitionKey == key }.map { Int($0.eventID.dropFirst())! }
                #expect(handled == handled.sorted(), "key \(key) handled out of order: \(handled)")
                #expect(handled.count == count / keys.count)
            }
            let retried = try #require(recorder.all.first { $0.eventID == "e0" })
            #expect(retried.attempts == 2)
            #expect(retried.lastError == "transient failure 2")
        }
    }

    @Test func aConsumersLastAttemptDeadLettersTheEventBeforeThePolicysAttemptsAreUsedUp() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "s", types: [], policy: quickPolicy(maxAttempts: 5))
            _ = try await bus.publish([event("tried"), event("last")], tenant: acme)
            let first = try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(1))
            #expect(first.map(\.eventID) == ["tried", "last"])
            for delivery in first {
                try await bus.nack(
                    tenant: acme, subscription: "s", delivery.receipt, reason: "endpoint answered 503", retryAfter: .zero,
                    lastAttempt: delivery.eventID == "last"
                )
            }
            let letters = try await bus.deadLetters(tenant: acme, subscription: "s")
            #expect(letters.map(\.eventID) == ["last"])
            #expect(letters.first?.attempts == 1)
            #expect(letters.first?.reason == "endpoint answered 503")
            // The other one is retried.
            let again = try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(1))
            #expect(again.map(\.eventID) == ["tried"])
        }
    }

    @Test func aPoisonEventIsDeadLetteredAfterMaxAttemptsAndCanBeRedriven() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "s", types: [], policy: quickPolicy(maxAttempts: 3))
            let poisoned = Mutex(true)
            let recorder = Recorder()
            let tries = Mutex(0)
            let consumer = Task {
                try await bus.consume(tenant: acme, subscription: "s") { delivery in
                    if delivery.eventID == "poison", poisoned.withLock({ $0 }) {
                        tries.withLock { $0 += 1 }
                        throw HandlerFailure(description: "cannot parse order")
                    }
                    recorder.record(delivery)
                }
            }
            _ = try await bus.publish(event("before", key: "k"), tenant: acme)
            _ = try await bus.publish(event("poison", key: "k"), tenant: acme)
            _ = try await bus.publish(event("after", key: "k"), tenant: acme)
            // The key is unblocked once the poison event is dead-lettered.
            try await eventually("before and after handled") { recorder.eventIDs == ["before", "after"] }
            #expect(tries.withLock { $0 } == 3)
            let letters = try await bus.deadLetters(tenant: acme, subscription: "s")
            #expect(letters.map(\.eventID) == ["poison"])
            #expect(letters.first?.attempts == 3)
            #expect(letters.first?.reason == "cannot parse order")

            poisoned.withLock { $0 = false }
            let letter = try #require(letters.first)
            #expect(try await bus.redrive(tenant: acme, subscription: "s", [letter.id]).isEmpty)
            try await eventually("redriven event handled") { recorder.eventIDs == ["before", "after", "poison"] }
            #expect(try await bus.deadLetters(tenant: acme, subscription: "s").isEmpty)
            #expect(try await bus.redrive(tenant: acme, subscription: "s", [letter.id]) == [letter.id])
            consumer.cancel()
        }
    }

    @Test func anUnacknowledgedDeliveryIsRedeliveredAfterItsAckTimeout() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(
                // Long enough that a loaded machine still nacks the second lease before it runs out.
                tenant: acme, name: "s", types: [], policy: quickPolicy(maxAttempts: 5, ackTimeout: .milliseconds(600))
            )
            _ = try await bus.publish(event("e1"), tenant: acme)
            let first = try await bus.receive(tenant: acme, subscription: "s", max: 1, wait: .seconds(1))
            #expect(first.map(\.attempts) == [0])
            // Leased: not handed out again while the lease runs.
            #expect(try await bus.receive(tenant: acme, subscription: "s", max: 1, wait: .milliseconds(50)).isEmpty)
            let second = try await bus.receive(tenant: acme, subscription: "s", max: 1, wait: .seconds(3))
            #expect(second.map(\.eventID) == ["e1"])
            #expect(second.first?.attempts == 1)
            #expect(second.first?.lastError?.contains("not acknowledged") == true)
            // A nack with retryAfter holds it back for that long.
            let id = try #require(second.first).receipt
            // (A second: a machine loaded by the other suites may take a while to ask again.)
            try await bus.nack(tenant: acme, subscription: "s", id, reason: "busy", retryAfter: .seconds(1))
            #expect(try await bus.receive(tenant: acme, subscription: "s", max: 1, wait: .milliseconds(100)).isEmpty)
            let third = try await bus.receive(tenant: acme, subscription: "s", max: 1, wait: .seconds(3))
            #expect(third.first?.attempts == 2)
            #expect(third.first?.lastError == "busy")
        }
    }

    @Test func aLongPollReturnsAsSoonAsAnEventArrives() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "s", types: [])
            async let waited = bus.receive(tenant: acme, subscription: "s", max: 5, wait: .seconds(20))
            try await Task.sleep(for: .milliseconds(100))
            let start = ContinuousClock.now
            _ = try await bus.publish(event("wake"), tenant: acme)
            let got = try await waited
            #expect(got.map(\.eventID) == ["wake"])
            #expect(ContinuousClock.now - start < .seconds(10))
        }
    }

    @Test func unknownSubscriptionsAreNotFound() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "mine", types: [])
            for call in [
                { _ = try await bus.receive(tenant: globex, subscription: "mine", max: 1) },
                { _ = try await bus.ack(tenant: globex, subscription: "mine", [DeliveryReceipt(id: DeliveryID(1), token: 1)]) },
                { _ = try await bus.deadLetters(tenant: globex, subscription: "mine") },
                { _ = try await bus.redrive(tenant: globex, subscription: "mine", [DeadLetterID(1)]) },
                { try await bus.deleteSubscription(tenant: globex, name: "mine") },
            ] as [@Sendable () async throws -> Void] {
                await #expect { try await call() } throws: { ($0 as? BespokeError)?.code == .notFound }
            }
            await #expect { try await bus.createSubscription(tenant: acme, name: "mine", types: []) } throws: {
                ($0 as? BespokeError)?.code == .conflict
            }
            await #expect { try await bus.createSubscription(tenant: acme, name: "bad name!", types: []) } throws: {
                ($0 as? BespokeError)?.code == .invalidRequest
            }
            await #expect {
                try await bus.createSubscription(tenant: acme, name: "zero", types: [], policy: DeliveryPolicy(maxAttempts: 0))
            } throws: { ($0 as? BespokeError)?.code == .invalidRequest }
            await #expect {
                try await bus.createSubscription(
                    tenant: acme, name: "forever", types: [], policy: DeliveryPolicy(maxBackoff: .seconds(48 * 3600))
                )
            } throws: { ($0 as? BespokeError)?.code == .invalidRequest }
        }
    }

    @Test func redriveAllMovesEveryDeadLetterBack() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "s", types: [], policy: quickPolicy(maxAttempts: 1))
            _ = try await bus.publish((0..<3).map { event("e\($0)") }, tenant: acme)
            let got = try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(1))
            for delivery in got { try await bus.nack(tenant: acme, subscription: "s", delivery.receipt, reason: "no") }
            #expect(try await bus.deadLetters(tenant: acme, subscription: "s").count == 3)
            #expect(try await bus.redriveAll(tenant: acme, subscription: "s") == 3)
            #expect(try await bus.deadLetters(tenant: acme, subscription: "s").isEmpty)
            let again = try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(1))
            #expect(Set(again.map(\.eventID)) == ["e0", "e1", "e2"])
            #expect(again.allSatisfy { $0.id.isRedelivery && $0.attempts == 0 })
            // Acked redeliveries are settled in the store.
            #expect(try await bus.ack(tenant: acme, subscription: "s", again.map(\.receipt)).isEmpty)
            #expect(try await bus.pendingCount(tenant: acme, subscription: "s") == 0)
        }
    }

    @Test func removingASubscriptionFromTheIndexSparesOneThatTookItsName() {
        let index = SubscriptionIndex()
        let old = Subscription(
            id: SubscriptionID(1), tenant: acme, name: "orders", filter: EventTypeFilter([]), policy: DeliveryPolicy(),
            createdAt: Date(), cursor: 0
        )
        let new = Subscription(
            id: SubscriptionID(2), tenant: acme, name: "orders", filter: EventTypeFilter([]), policy: DeliveryPolicy(),
            createdAt: Date(), cursor: 0
        )
        index.insert(old)
        index.insert(new)
        index.remove(old)
        #expect(index.subscription(tenant: acme, name: "orders")?.id == new.id)
        #expect(index.subscription(SubscriptionID(1)) == nil)
        index.remove(new)
        #expect(index.subscription(tenant: acme, name: "orders") == nil)
    }

    @Test func aStaleReceiptNeitherSettlesAReleasedDeliveryNorUnblocksItsKey() async throws {
        let store = try await makeStore()
        try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(
                // Long enough that a loaded machine still nacks the second lease before it runs out.
                tenant: acme, name: "s", types: [], policy: quickPolicy(maxAttempts: 5, ackTimeout: .milliseconds(600))
            )
            _ = try await bus.publish([event("k1", key: "k"), event("k2", key: "k")], tenant: acme)
            let first = try #require(try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(1)).first)
            #expect(first.eventID == "k1")
            // The first consumer is too slow: its lease lapses and k1 goes to a second consumer.
            let second = try #require(try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(2)).first)
            #expect(second.eventID == "k1")
            #expect(second.receipt != first.receipt)
            // The first consumer's late ack and nack are refused...
            #expect(try await bus.ack(tenant: acme, subscription: "s", [first.receipt]) == [first.receipt])
            await #expect { try await bus.nack(tenant: acme, subscription: "s", first.receipt, reason: "late") } throws: {
                ($0 as? BespokeError)?.code == .notFound
            }
            // ...so k2 still waits behind k1, and k1 keeps one attempt counted.
            #expect(try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .milliseconds(50)).isEmpty)
            #expect(second.attempts == 1)
            #expect(try await bus.ack(tenant: acme, subscription: "s", [second.receipt]).isEmpty)
            let next = try await bus.receive(tenant: acme, subscription: "s", max: 10, wait: .seconds(1))
            #expect(next.map(\.eventID) == ["k2"])
            // Receipts print and parse back.
            #expect(DeliveryReceipt(second.receipt.description) == second.receipt)
            #expect(DeliveryReceipt("12") == nil)
            #expect(DeliveryReceipt("r3.0000000a") == DeliveryReceipt(id: .redelivery(3), token: 10))
        }
    }
}
