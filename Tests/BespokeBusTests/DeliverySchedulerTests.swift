@testable import BespokeBus
import BespokeCore
import BespokeStorage
import Foundation
import Testing

/// How the scheduler's subscription windows let cursors move past events their filters do not
/// select, without ever passing over one they select.
@Suite("Delivery scheduler: passing over other types")
struct DeliverySchedulerTests {
    private let orders = Subscription(
        id: SubscriptionID(1), tenant: acme, name: "orders", filter: EventTypeFilter(["Order*"]), policy: DeliveryPolicy(),
        createdAt: Date(), cursor: 0
    )

    private func committed(_ seq: Int64, _ type: String) -> (event: EventToStore, seq: Int64, storedAt: Date) {
        (EventToStore(event("e\(seq)", type: type), tenant: acme), seq, Date())
    }

    /// A scheduler with `orders` added and its first refill (from its cursor) claimed.
    private func scheduler(window: Int) async -> DeliveryScheduler {
        let scheduler = DeliveryScheduler(window: window) { _ in }
        await scheduler.add(orders)
        return scheduler
    }

    @Test func eventsCommittedWhileTheFirstRefillReadsArePassedOverWhenItEnds() async throws {
        let scheduler = await scheduler(window: 10)
        // The refill read the store before this commit: its page has nothing of it.
        await scheduler.enqueue(events: [committed(1, "BasketCleared"), committed(2, "BasketCleared")])
        #expect(await scheduler.takeCursors().isEmpty)
        await scheduler.completeRefill(orders.id, page: DeliveryPage(deliveries: [], scannedThrough: nil, exhausted: true))
        #expect(await scheduler.takeCursors().map(\.cursor) == [2])
        // Caught up: the next commit of other types moves it at once.
        await scheduler.enqueue(events: [committed(3, "BasketCleared")])
        #expect(await scheduler.takeCursors().map(\.cursor) == [3])
    }

    @Test func aSelectedEventCommittedDuringTheRefillIsReadAgainNotPassedOver() async throws {
        let scheduler = await scheduler(window: 10)
        await scheduler.enqueue(events: [committed(1, "OrderStarted"), committed(2, "BasketCleared")])
        await scheduler.completeRefill(orders.id, page: DeliveryPage(deliveries: [], scannedThrough: nil, exhausted: true))
        // The order is still to be read from the store: no cursor moves, and a refill from the
        // start reads it.
        #expect(await scheduler.takeCursors().isEmpty)
        let again = try #require(await scheduler.refillCursor(orders.id))
        #expect(again.after == nil)
        let order = Delivery(
            id: .stream(1), tenant: acme, subscription: orders.id, eventSeq: 1, eventID: "e1", source: "/shop", type: "OrderStarted",
            partitionKey: nil, attempts: 0, notBefore: nil, lastError: nil, storedAt: Date(), envelope: Data()
        )
        await scheduler.completeRefill(orders.id, page: DeliveryPage(deliveries: [order], scannedThrough: 2, exhausted: true))
        let leased = try #require(await scheduler.receive(orders.id, max: 10, wait: .zero))
        #expect(leased.map(\.eventSeq) == [1])
        #expect(await scheduler.takeCursors().allSatisfy { $0.cursor == 0 })
        _ = await scheduler.ack(orders.id, leased.map(\.receipt))
        #expect(await scheduler.takeCursors().map(\.cursor) == [2])
    }

    @Test func aWindowThatFillsMidCommitLeavesTheRestForARefill() async throws {
        let scheduler = await scheduler(window: 2)
        await scheduler.completeRefill(orders.id, page: DeliveryPage(deliveries: [], scannedThrough: nil, exhausted: true))
        await scheduler.enqueue(events: [
            committed(1, "OrderStarted"), committed(2, "OrderStarted"), committed(3, "OrderStarted"), committed(4, "BasketCleared"),
        ])
        let leased = try #require(await scheduler.receive(orders.id, max: 10, wait: .zero))
        #expect(leased.map(\.eventSeq) == [1, 2])
        #expect(await scheduler.ack(orders.id, leased.map(\.receipt)).missing.isEmpty)
        // The third did not fit: nothing is passed over, and the refill the acks asked for
        // reads from the second.
        #expect(await scheduler.settledThrough(orders.id) == 2)
        #expect(await scheduler.refillCursor(orders.id)?.after == 2)
    }
}
