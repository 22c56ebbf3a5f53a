import BespokeCore
import BespokeStorage
import DequeModule
import Foundation

/// The in-memory view of one subscription's pending deliveries: a window of at most
/// `window` deliveries in id (publish) order, the rest left in the store until the window drains.
///
/// Ordering rule: a delivery with a partition key is handed out only when no earlier delivery
/// with that key is still in the window (leased, settling, or waiting for a retry), so events
/// with the same key reach the consumer in order, also under retries.
///
/// A class, owned by ``DeliveryScheduler`` and never shared outside it: the scheduler looks a
/// queue up once per call and works on it in place, where a value in a dictionary would be
/// copied (with every reference in it retained) on each read through the dictionary.
final class SubscriptionQueue {
    enum EntryState: Equatable {
        case ready
        case leased(until: Date, token: UInt32)
        /// An ack or nack is being committed.
        case settling
    }

    struct Entry {
        var delivery: Delivery
        var state: EntryState
    }

    struct Waiter {
        let id: UInt64
        let max: Int
        let deadline: Date
        let continuation: CheckedContinuation<[Delivery], Never>
    }

    var subscription: Subscription
    /// The window's deliveries by id.
    private(set) var entries: [DeliveryID: Entry] = [:]
    /// Delivery ids in publish order. Ids settled out of order stay here until they reach the
    /// front or the deque is compacted, so removal is O(1) amortized.
    private var order: Deque<DeliveryID> = []
    /// Highest log sequence examined for this subscription; the store is read above it.
    var loadedUpTo: Int64?
    /// The cursor last handed out for persisting.
    var persistedCursor: Int64
    /// Settled deliveries may have moved the cursor since it was last persisted.
    var cursorDirty = false
    /// Deliveries may exist in the store above `loadedUpTo`.
    var storeHasMore = true
    var refillInFlight = false
    /// A commit added deliveries while a refill was reading: read again afterwards.
    var missedDuringRefill = false
    /// The last event a commit passed over while a refill was reading (see ``passOver(through:)``).
    var passedOverDuringRefill: Int64?
    var waiters: Deque<Waiter> = []
    /// The last lease token handed out. Tokens count up from a random start, so they are
    /// unique within a run and unlikely to repeat one from before a restart, without asking
    /// the system for randomness on every lease.
    private var nextToken = UInt32.random(in: 1...UInt32.max)
    /// Earliest lease expiry, or nil if nothing is leased.
    var nextLeaseExpiry: Date?
    /// Earliest retry time among waiting entries.
    var nextRetryAt: Date?

    init(subscription: Subscription) {
        self.subscription = subscription
        self.persistedCursor = subscription.cursor
    }

    /// Takes up to `max` deliverable entries and leases them until `now + ackTimeout`.
    func lease(max: Int, now: Date) -> [Delivery] {
        guard max > 0, !entries.isEmpty else { return [] }
        var seenKeys: Set<String> = []
        var out: [Delivery] = []
        let until = now.addingTimeInterval(subscription.policy.ackTimeout.seconds)
        for id in order {
            guard let entry = entries[id] else { continue }
            if let key = entry.delivery.partitionKey {
                guard seenKeys.insert(key).inserted else { continue }
            }
            guard entry.state == .ready else { continue }
            if let notBefore = entry.delivery.notBefore, notBefore > now { continue }
            nextToken = nextToken == UInt32.max ? 1 : nextToken + 1
            let token = nextToken
            entries[id]?.state = .leased(until: until, token: token)
            var leased = entry.delivery
            leased.leaseToken = token
            out.append(leased)
            if out.count == max { break }
        }
        if !out.isEmpty, nextLeaseExpiry.map({ until < $0 }) ?? true { nextLeaseExpiry = until }
        return out
    }

    /// Places a delivery at the end of the window.
    func insert(_ delivery: Delivery) {
        entries[delivery.id] = Entry(delivery: delivery, state: .ready)
        order.append(delivery.id)
        if !delivery.id.isRedelivery { loadedUpTo = max(loadedUpTo ?? 0, delivery.id.rawValue) }
        if let notBefore = delivery.notBefore, nextRetryAt.map({ notBefore < $0 }) ?? true {
            nextRetryAt = notBefore
        }
    }

    /// Removes a settled delivery; returns false if it was not in the window.
    func remove(_ id: DeliveryID) -> Bool {
        guard entries.removeValue(forKey: id) != nil else { return false }
        if !id.isRedelivery { cursorDirty = true }
        while let first = order.first, entries[first] == nil { order.removeFirst() }
        if order.count > 2 * entries.count + 64 {
            order = Deque(order.filter { entries[$0] != nil })
        }
        return true
    }

    /// Updates an entry in place.
    func update(_ id: DeliveryID, _ change: (inout Entry) -> Void) {
        guard entries[id] != nil else { return }
        change(&entries[id]!)
    }

    /// Claims the next refill if one is due: the store may hold more and the window is at
    /// most half full.
    func claimRefill(window: Int) -> Bool {
        guard storeHasMore, !refillInFlight, entries.count <= window / 2 else { return false }
        refillInFlight = true
        return true
    }

    /// Everything in the log up to this sequence is settled: just before the oldest stream
    /// delivery still in the window, or all that was examined when none is.
    var settledThrough: Int64? {
        for id in order where !id.isRedelivery && entries[id] != nil {
            return id.rawValue - 1
        }
        return loadedUpTo
    }

    /// The cursor to persist, if it moved since it was last taken.
    func takeCursor() -> Int64? {
        guard cursorDirty else { return nil }
        cursorDirty = false
        guard let settled = settledThrough, settled > persistedCursor else { return nil }
        persistedCursor = settled
        return settled
    }

    /// Appends a delivery newer than the window; a stream delivery that does not fit is left
    /// in the store for a later refill. Redeliveries always join.
    func append(_ delivery: Delivery, window: Int) {
        if delivery.id.isRedelivery {
            if entries[delivery.id] == nil { insert(delivery) }
            return
        }
        if let loadedUpTo, delivery.id.rawValue <= loadedUpTo { return }
        guard !storeHasMore, !refillInFlight, entries.count < window else {
            if refillInFlight { missedDuringRefill = true } else { storeHasMore = true }
            return
        }
        insert(delivery)
    }

    /// Marks the log examined through `seq`, an event of the tenant just committed (with every
    /// delivery of the subscription up to it already appended), when the window holds all the
    /// store has: no backlog left in the store and no refill reading it. While a refill reads,
    /// the refill's completion decides (a refill that read before this commit does not see its
    /// events); with a backlog, the next refill passes over it, as it passes over every event
    /// of other types.
    func passOver(through seq: Int64) {
        guard seq > (loadedUpTo ?? 0) else { return }
        if refillInFlight {
            passedOverDuringRefill = max(passedOverDuringRefill ?? 0, seq)
            return
        }
        guard !storeHasMore else { return }
        loadedUpTo = seq
        cursorDirty = true
    }

    /// Whether `receipt` is the receipt of the entry's current lease.
    func holds(_ receipt: DeliveryReceipt) -> Bool {
        guard case .leased(_, let token) = entries[receipt.id]?.state else { return false }
        return token == receipt.token
    }

    /// Marks an entry as being settled by the holder of its current lease.
    func beginSettle(_ receipt: DeliveryReceipt) -> DeliveryScheduler.Settle {
        guard let entry = entries[receipt.id] else { return .absent }
        if entry.state == .settling { return .busy }
        guard holds(receipt) else { return .absent }
        entries[receipt.id]?.state = .settling
        return .inWindow(entry.delivery)
    }


    /// Hands waiters what is deliverable, oldest waiter first.
    func serveWaiters(now: Date) {
        while let waiter = waiters.first {
            let got = lease(max: waiter.max, now: now)
            guard !got.isEmpty else { return }
            waiters.removeFirst()
            waiter.continuation.resume(returning: got)
        }
    }

    /// Resumes every waiter with nothing (shutdown, subscription deleted).
    func releaseWaiters() {
        while let waiter = waiters.popFirst() { waiter.continuation.resume(returning: []) }
    }

    /// Leases past their expiry, now settling; recomputes the next expiry.
    func expireLeases(now: Date) -> [Delivery] {
        guard let next = nextLeaseExpiry, next <= now else { return [] }
        var expired: [Delivery] = []
        var earliest: Date?
        for (id, entry) in entries {
            guard case .leased(let until, _) = entry.state else { continue }
            if until <= now {
                entries[id]?.state = .settling
                expired.append(entry.delivery)
            } else if earliest.map({ until < $0 }) ?? true {
                earliest = until
            }
        }
        nextLeaseExpiry = earliest
        return expired
    }

    /// Whether a retry became due since the last check (so waiters should be served).
    func retryBecameDue(now: Date) -> Bool {
        guard let next = nextRetryAt, next <= now else { return false }
        nextRetryAt = entries.values.lazy.compactMap { entry in
            entry.delivery.notBefore.flatMap { $0 > now ? $0 : nil }
        }.min()
        return true
    }

    /// Waiters whose long-poll ran out.
    func expireWaiters(now: Date) {
        guard waiters.contains(where: { $0.deadline <= now }) else { return }
        var kept: Deque<Waiter> = []
        for waiter in waiters {
            if waiter.deadline <= now { waiter.continuation.resume(returning: []) } else { kept.append(waiter) }
        }
        waiters = kept
    }
}
