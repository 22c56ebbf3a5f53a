import BespokeCore
import BespokeStorage
import Foundation

/// Hands pending deliveries to consumers, from per-subscription in-memory windows.
///
/// Each subscription has its own queue and its own waiters, so one tenant's backlog or failing
/// consumer never sits in front of another tenant's deliveries. The store stays the source of
/// truth: the window is filled from commits as they happen and refilled from the store when a
/// backlog is larger than the window (or after a restart).
actor DeliveryScheduler {
    enum Settle {
        /// The delivery is in the window and now settling.
        case inWindow(Delivery)
        /// Another ack or nack of it is being committed.
        case busy
        /// Not in the window (never loaded, or already settled): ask the store.
        case absent
    }

    private var queues: [SubscriptionID: SubscriptionQueue] = [:]
    /// Each tenant's subscriptions, to route newly committed events.
    private var byTenant: [TenantID: [SubscriptionID]] = [:]
    private let window: Int
    private let requestRefill: @Sendable (SubscriptionID) -> Void
    private var nextWaiterID: UInt64 = 0
    private var stopped = false

    init(window: Int, requestRefill: @escaping @Sendable (SubscriptionID) -> Void) {
        self.window = max(window, 2)
        self.requestRefill = requestRefill
    }

    // MARK: Subscriptions

    func add(_ subscription: Subscription) {
        guard queues[subscription.id] == nil else { return }
        queues[subscription.id] = SubscriptionQueue(subscription: subscription)
        byTenant[subscription.tenant, default: []].append(subscription.id)
        refillIfNeeded(subscription.id)
    }

    func removeSubscription(_ id: SubscriptionID) {
        guard let queue = queues.removeValue(forKey: id) else { return }
        queue.releaseWaiters()
        byTenant[queue.subscription.tenant]?.removeAll { $0 == id }
    }

    // MARK: Filling

    /// Events just committed, in commit order: each becomes a delivery for every subscription
    /// of its tenant whose filter selects its type. The others pass over it: their cursors may
    /// move past it (so a subscription of a rare type does not hold its tenant's log back from
    /// retention). This relies on commits being handed over in commit order, each with its
    /// events in log order, and on every event entering the log through the bus's commits.
    func enqueue(events: [(event: EventToStore, seq: Int64, storedAt: Date)]) {
        var deliveries: [Delivery] = []
        var lastOfTenant: [TenantID: Int64] = [:]
        for (event, seq, storedAt) in events {
            lastOfTenant[event.tenant] = max(lastOfTenant[event.tenant] ?? 0, seq)
            for id in byTenant[event.tenant] ?? [] where queues[id]?.subscription.filter.matches(event.type) == true {
                deliveries.append(
                    Delivery(
                        id: .stream(seq), tenant: event.tenant, subscription: id, eventSeq: seq, eventID: event.eventID,
                        source: event.source, type: event.type, partitionKey: event.partitionKey, attempts: 0, notBefore: nil,
                        lastError: nil, storedAt: storedAt, envelope: event.envelope
                    )
                )
            }
        }
        if !deliveries.isEmpty { enqueue(deliveries) }
        // After the appends: a queue that took every delivery of the commit has examined all
        // of its tenant's events in it.
        for (tenant, seq) in lastOfTenant {
            for id in byTenant[tenant] ?? [] { queues[id]?.passOver(through: seq) }
        }
    }

    /// New deliveries (stream or redelivery), in commit order.
    func enqueue(_ deliveries: [Delivery]) {
        var touched: [SubscriptionID: SubscriptionQueue] = [:]
        for delivery in deliveries {
            guard let queue = touched[delivery.subscription] ?? queues[delivery.subscription] else { continue }
            queue.append(delivery, window: window)
            touched[delivery.subscription] = queue
        }
        let now = Date()
        for (id, queue) in touched {
            queue.serveWaiters(now: now)
            refillIfNeeded(id, queue)
        }
    }

    /// Where the next refill of `id` reads from, or nil when none is needed.
    func refillCursor(_ id: SubscriptionID) -> (subscription: Subscription, after: Int64?, limit: Int)? {
        guard let queue = queues[id], queue.refillInFlight else { return nil }
        return (queue.subscription, queue.loadedUpTo, max(1, window - queue.entries.count))
    }

    /// Places what a refill read into the window.
    func completeRefill(_ id: SubscriptionID, page: DeliveryPage) {
        guard let queue = queues[id] else { return }
        for delivery in page.deliveries where delivery.id.rawValue > (queue.loadedUpTo ?? 0) {
            queue.insert(delivery)
        }
        if let scanned = page.scannedThrough, scanned > (queue.loadedUpTo ?? 0) {
            // Events of other types were passed over: the cursor may move past them.
            queue.loadedUpTo = scanned
            queue.cursorDirty = true
        }
        queue.storeHasMore = !page.exhausted || queue.missedDuringRefill
        queue.missedDuringRefill = false
        // Commits passed over during the read: when they added nothing to read again and the
        // store holds nothing more, the window has everything up to them.
        if let passed = queue.passedOverDuringRefill, !queue.storeHasMore, passed > (queue.loadedUpTo ?? 0) {
            queue.loadedUpTo = passed
            queue.cursorDirty = true
        }
        queue.passedOverDuringRefill = nil
        queue.refillInFlight = false
        queue.serveWaiters(now: Date())
        refillIfNeeded(id, queue)
    }

    /// A refill failed; it is tried again on a later tick.
    func failRefill(_ id: SubscriptionID) {
        queues[id]?.refillInFlight = false
        queues[id]?.passedOverDuringRefill = nil
    }

    /// Asks for a refill of the subscription's window from the store when one is due (the
    /// store may hold more, and the window is at most half full).
    private func refillIfNeeded(_ id: SubscriptionID) {
        guard let queue = queues[id] else { return }
        refillIfNeeded(id, queue)
    }

    private func refillIfNeeded(_ id: SubscriptionID, _ queue: SubscriptionQueue) {
        guard !stopped, queue.claimRefill(window: window) else { return }
        requestRefill(id)
    }

    // MARK: Consuming

    /// Leases up to `max` deliveries, waiting up to `wait` for some to arrive.
    /// Returns nil when the subscription does not exist.
    func receive(_ id: SubscriptionID, max: Int, wait: Duration) async -> [Delivery]? {
        guard let queue = queues[id] else { return nil }
        let now = Date()
        let got = queue.lease(max: max, now: now)
        guard got.isEmpty, wait > .zero, !stopped else { return got }
        nextWaiterID += 1
        let waiterID = nextWaiterID
        let deadline = now.addingTimeInterval(wait.seconds)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard !Task.isCancelled, queues[id] != nil else {
                    continuation.resume(returning: [])
                    return
                }
                queues[id]?.waiters.append(
                    SubscriptionQueue.Waiter(id: waiterID, max: max, deadline: deadline, continuation: continuation)
                )
            }
        } onCancel: {
            Task { await self.cancelWaiter(id, waiterID) }
        }
    }

    func waiterIDs(_ id: SubscriptionID) -> [UInt64] {
        queues[id]?.waiters.map(\.id) ?? []
    }

    /// Ends a waiting receive early with nothing.
    func cancelWaiter(_ id: SubscriptionID, _ waiterID: UInt64) {
        guard let index = queues[id]?.waiters.firstIndex(where: { $0.id == waiterID }) else { return }
        queues[id]?.waiters.remove(at: index).continuation.resume(returning: [])
    }

    // MARK: Settling

    /// Acknowledges deliveries by the receipts of their current leases; other receipts are
    /// returned as missing. Stream deliveries leave the window at once (the cursor that records
    /// it is persisted later; until then a crash means redelivery, which at-least-once allows).
    /// Redeliveries are returned settling, for the bus to record in the store.
    func ack(_ subscription: SubscriptionID, _ receipts: [DeliveryReceipt]) -> (missing: [DeliveryReceipt], redeliveries: [DeliveryReceipt]) {
        guard let queue = queues[subscription] else { return (receipts, []) }
        var missing: [DeliveryReceipt] = []
        var redeliveries: [DeliveryReceipt] = []
        for receipt in receipts {
            guard queue.holds(receipt) else {
                missing.append(receipt)
                continue
            }
            if receipt.id.isRedelivery {
                queue.update(receipt.id) { $0.state = .settling }
                redeliveries.append(receipt)
            } else {
                _ = queue.remove(receipt.id)
            }
        }
        if redeliveries.count + missing.count < receipts.count {
            queue.serveWaiters(now: Date())
            refillIfNeeded(subscription, queue)
        }
        return (missing, redeliveries)
    }

    /// Persisting these cursors failed: take them again at the next flush (the store never
    /// moves a cursor back, so forgetting the last persisted value is safe).
    func cursorsNotPersisted(_ ids: [SubscriptionID]) {
        for id in ids {
            queues[id]?.persistedCursor = 0
            queues[id]?.cursorDirty = true
        }
    }

    /// Everything of the subscription's log up to this sequence is settled, as known in memory.
    func settledThrough(_ id: SubscriptionID) -> Int64? {
        queues[id]?.settledThrough
    }

    /// Cursors that moved since they were last taken, to persist.
    func takeCursors() -> [(tenant: TenantID, subscription: SubscriptionID, cursor: Int64)] {
        var moved: [(TenantID, SubscriptionID, Int64)] = []
        for (id, queue) in queues {
            if let cursor = queue.takeCursor() {
                moved.append((queue.subscription.tenant, id, cursor))
            }
        }
        return moved
    }

    func beginSettle(_ subscription: SubscriptionID, _ receipt: DeliveryReceipt) -> Settle {
        queues[subscription]?.beginSettle(receipt) ?? .absent
    }

    /// The delivery was acked or dead-lettered: it leaves the window, and its key unblocks.
    func finishRemoval(_ subscription: SubscriptionID, _ id: DeliveryID) {
        guard let queue = queues[subscription], queue.remove(id) else { return }
        queue.serveWaiters(now: Date())
        refillIfNeeded(subscription, queue)
    }

    /// The delivery failed and waits for a retry at `notBefore`.
    func finishRetry(_ subscription: SubscriptionID, _ id: DeliveryID, attempts: Int, notBefore: Date, error: String) {
        guard let queue = queues[subscription], queue.entries[id] != nil else { return }
        queue.update(id) { entry in
            entry.delivery.attempts = attempts
            entry.delivery.notBefore = notBefore
            entry.delivery.lastError = error
            entry.state = .ready
        }
        if queue.nextRetryAt.map({ notBefore < $0 }) ?? true {
            queue.nextRetryAt = notBefore
        }
        queue.serveWaiters(now: Date())
    }

    /// Settling failed in the store: the delivery becomes deliverable again.
    func abortSettle(_ subscription: SubscriptionID, _ id: DeliveryID) {
        guard let queue = queues[subscription], queue.entries[id] != nil else { return }
        queue.update(id) { $0.state = .ready }
        queue.serveWaiters(now: Date())
    }

    // MARK: Time

    /// Periodic work: expired leases (returned, now settling, for the bus to fail), due retries,
    /// timed-out long-polls and refills to retry.
    func tick(now: Date) -> [Delivery] {
        var expired: [Delivery] = []
        for (id, queue) in queues {
            expired += queue.expireLeases(now: now)
            if queue.retryBecameDue(now: now) {
                queue.serveWaiters(now: now)
            }
            queue.expireWaiters(now: now)
            refillIfNeeded(id, queue)
        }
        return expired
    }

    /// Stops: every waiting receive returns empty and no new waits begin.
    func stop() {
        stopped = true
        for queue in queues.values { queue.releaseWaiters() }
    }

    // MARK: Introspection

    /// Deliveries of a subscription currently in the window (for tests and metrics).
    func windowCount(_ id: SubscriptionID) -> Int {
        queues[id]?.entries.count ?? 0
    }
}
