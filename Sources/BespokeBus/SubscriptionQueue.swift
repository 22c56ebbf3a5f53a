import BespokeStorage
import DequeModule
import Foundation
import OrderedCollections

/// The in-memory view of one subscription's pending deliveries: a window of at most
/// `window` deliveries in id (publish) order, the rest left in the store until the window drains.
///
/// Ordering rule: a delivery with a partition key is handed out only when no earlier delivery
/// with that key is still in the window (leased, settling, or waiting for a retry), so events
/// with the same key reach the consumer in order, also under retries.
struct SubscriptionQueue {
    enum EntryState: Equatable {
        case ready
        case leased(until: Date)
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
    var entries: OrderedDictionary<DeliveryID, Entry> = [:]
    /// Highest delivery id ever placed in the window; the store is read above it.
    var loadedUpTo: DeliveryID?
    /// Deliveries may exist in the store above `loadedUpTo`.
    var storeHasMore = true
    var refillInFlight = false
    /// A commit added deliveries while a refill was reading: read again afterwards.
    var missedDuringRefill = false
    var waiters: Deque<Waiter> = []
    /// Earliest lease expiry, or nil if nothing is leased.
    var nextLeaseExpiry: Date?
    /// Earliest retry time among waiting entries.
    var nextRetryAt: Date?

    init(subscription: Subscription) {
        self.subscription = subscription
    }

    /// Takes up to `max` deliverable entries and leases them until `now + ackTimeout`.
    mutating func lease(max: Int, now: Date) -> [Delivery] {
        guard max > 0, !entries.isEmpty else { return [] }
        var seenKeys: Set<String> = []
        var out: [Delivery] = []
        let until = now.addingTimeInterval(subscription.policy.ackTimeout.timeInterval)
        var index = entries.values.startIndex
        while index < entries.values.endIndex {
            let entry = entries.values[index]
            defer { index = entries.values.index(after: index) }
            if let key = entry.delivery.partitionKey {
                guard seenKeys.insert(key).inserted else { continue }
            }
            guard entry.state == .ready else { continue }
            if let notBefore = entry.delivery.notBefore, notBefore > now { continue }
            entries.values[index].state = .leased(until: until)
            out.append(entry.delivery)
            if out.count == max { break }
        }
        if !out.isEmpty, nextLeaseExpiry.map({ until < $0 }) ?? true { nextLeaseExpiry = until }
        return out
    }

    /// Appends deliveries newer than the window. Returns false for those left in the store.
    mutating func append(_ delivery: Delivery, window: Int) {
        if let loadedUpTo, delivery.id <= loadedUpTo { return }
        guard !storeHasMore, !refillInFlight, entries.count < window else {
            if refillInFlight { missedDuringRefill = true } else { storeHasMore = true }
            return
        }
        entries[delivery.id] = Entry(delivery: delivery, state: .ready)
        loadedUpTo = delivery.id
    }

    /// Marks an entry as being settled; returns it unless absent or already settling.
    mutating func beginSettle(_ id: DeliveryID) -> Delivery? {
        guard let entry = entries[id], entry.state != .settling else { return nil }
        entries[id]?.state = .settling
        return entry.delivery
    }

    /// Hands waiters what is deliverable, oldest waiter first.
    mutating func serveWaiters(now: Date) {
        while let waiter = waiters.first {
            let got = lease(max: waiter.max, now: now)
            guard !got.isEmpty else { return }
            waiters.removeFirst()
            waiter.continuation.resume(returning: got)
        }
    }

    /// Resumes every waiter with nothing (shutdown, subscription deleted).
    mutating func releaseWaiters() {
        while let waiter = waiters.popFirst() { waiter.continuation.resume(returning: []) }
    }

    /// Leases past their expiry, now settling; recomputes the next expiry.
    mutating func expireLeases(now: Date) -> [Delivery] {
        guard let next = nextLeaseExpiry, next <= now else { return [] }
        var expired: [Delivery] = []
        var earliest: Date?
        for index in entries.values.indices {
            guard case .leased(let until) = entries.values[index].state else { continue }
            if until <= now {
                entries.values[index].state = .settling
                expired.append(entries.values[index].delivery)
            } else if earliest.map({ until < $0 }) ?? true {
                earliest = until
            }
        }
        nextLeaseExpiry = earliest
        return expired
    }

    /// Whether a retry became due since the last check (so waiters should be served).
    mutating func retryBecameDue(now: Date) -> Bool {
        guard let next = nextRetryAt, next <= now else { return false }
        nextRetryAt = entries.values.lazy.compactMap { entry in
            entry.delivery.notBefore.flatMap { $0 > now ? $0 : nil }
        }.min()
        return true
    }

    /// Waiters whose long-poll ran out.
    mutating func expireWaiters(now: Date) {
        guard waiters.contains(where: { $0.deadline <= now }) else { return }
        var kept: Deque<Waiter> = []
        for waiter in waiters {
            if waiter.deadline <= now { waiter.continuation.resume(returning: []) } else { kept.append(waiter) }
        }
        waiters = kept
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
