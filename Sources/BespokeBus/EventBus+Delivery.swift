public import BespokeCore
public import BespokeStorage
import Foundation
import Metrics
import ServiceLifecycle

extension EventBus {
    /// Leases up to `max` deliveries of a subscription, waiting up to `wait` for some (long-poll).
    ///
    /// Each delivery must be acked or nacked within the subscription's ack timeout, or it
    /// counts as a failed attempt and is delivered again.
    /// - Throws: ``BespokeError`` `not_found` for an unknown subscription (or another tenant's).
    public func receive(tenant: TenantID, subscription name: String, max: Int, wait: Duration = .zero) async throws -> [Delivery] {
        try ensureRunning()
        let subscription = try subscription(tenant: tenant, name: name)
        let max = Swift.min(Swift.max(max, 1), configuration.maxReceiveBatch)
        // No new long-polls once the service shuts down gracefully.
        let wait = Task.isShuttingDownGracefully ? .zero : Swift.min(Swift.max(wait, .zero), configuration.maxWait)
        let scheduler = self.scheduler
        // Long-polls end early, empty, when the service they run in shuts down gracefully
        // (cancellation of one waiter is handled inside the scheduler).
        let got = await withGracefulShutdownHandler {
            await scheduler.receive(subscription.id, max: max, wait: wait)
        } onGracefulShutdown: {
            Task { await scheduler.stopWaiting(subscription.id) }
        }
        guard let got else { throw BespokeError.notFound("subscription") }
        if !got.isEmpty {
            deliveredCounters[tenant.rawValue].increment(by: got.count)
        }
        return got
    }

    /// Acknowledges deliveries: they are settled for good.
    ///
    /// Stream deliveries are settled in memory at once and the subscription's cursor is
    /// persisted within ``BusConfiguration/cursorFlushInterval``; redeliveries are recorded in
    /// the store before this returns.
    /// - Returns: the receipts that are not those of a current lease of this tenant's
    ///   subscription (unknown, settled, of another tenant, or of an expired lease).
    @discardableResult
    public func ack(tenant: TenantID, subscription name: String, _ receipts: [DeliveryReceipt]) async throws -> [DeliveryReceipt] {
        let subscription = try subscription(tenant: tenant, name: name)
        var (missing, redeliveries) = await scheduler.ack(subscription.id, receipts)
        guard !redeliveries.isEmpty else { return missing }
        let results: [BusWriteResult]
        do {
            results = try await committer.submit(redeliveries.map { .settleRedelivery(tenant, subscription.id, $0.id) }, tenant: tenant)
        } catch {
            for receipt in redeliveries { await scheduler.abortSettle(subscription.id, receipt.id) }
            throw error
        }
        for (receipt, result) in zip(redeliveries, results) {
            await scheduler.finishRemoval(subscription.id, receipt.id)
            if result == .notFound { missing.append(receipt) }
        }
        return missing
    }

    /// Gives leased deliveries back without counting an attempt: they can be received again
    /// at once (a consumer that received them but will not process them now). Receipts that
    /// are not current leases are ignored.
    public func release(tenant: TenantID, subscription name: String, _ receipts: [DeliveryReceipt]) async throws {
        let subscription = try subscription(tenant: tenant, name: name)
        for receipt in receipts {
            if case .inWindow(let delivery) = await scheduler.beginSettle(subscription.id, receipt) {
                await scheduler.abortSettle(subscription.id, delivery.id)
            }
        }
    }

    /// Reports a failed delivery: it is retried after the backoff (or `retryAfter`), or
    /// dead-lettered with `reason` once the subscription's attempts are used up, or at once
    /// when `lastAttempt` (the consumer's own limit is reached).
    /// - Throws: ``BespokeError`` `not_found` when the receipt is not that of a current lease
    ///   of this tenant's subscription.
    public func nack(
        tenant: TenantID, subscription name: String, _ receipt: DeliveryReceipt, reason: String, retryAfter: Duration? = nil,
        lastAttempt: Bool = false
    ) async throws {
        let subscription = try subscription(tenant: tenant, name: name)
        switch await scheduler.beginSettle(subscription.id, receipt) {
        case .inWindow(let delivery):
            try await fail(delivery, reason: reason, retryAfter: retryAfter, lastAttempt: lastAttempt)
        case .busy:
            return
        case .absent:
            throw BespokeError.notFound("delivery")
        }
    }

    /// Records a failed attempt of a settling delivery; `lastAttempt` dead-letters it whatever
    /// attempts the policy has left.
    func fail(_ delivery: Delivery, reason: String, retryAfter: Duration?, lastAttempt: Bool = false) async throws {
        let subscriptionID = delivery.subscription
        guard let policy = index.subscription(subscriptionID)?.policy else {
            await scheduler.finishRemoval(subscriptionID, delivery.id)
            return
        }
        let attempts = delivery.attempts + 1
        let reason = String(reason.prefix(2000))
        let deadLetter = lastAttempt || attempts >= policy.maxAttempts
        let delay = Swift.min(retryAfter ?? policy.backoff(afterAttempt: attempts), configuration.maxRetryDelay)
        let notBefore = Date().addingTimeInterval(delay.seconds)
        let write: BusWrite =
            deadLetter
            ? .deadLetter(delivery.tenant, subscriptionID, delivery.id, attempts: attempts, reason: reason)
            : .recordFailure(delivery.tenant, subscriptionID, delivery.id, attempts: attempts, notBefore: notBefore, error: reason)
        do {
            let result = try await committer.submit([write], tenant: delivery.tenant)
            if deadLetter || result.first == .notFound {
                await scheduler.finishRemoval(subscriptionID, delivery.id)
                if deadLetter {
                    logger.warning(
                        "delivery dead-lettered",
                        metadata: ["tenant": "\(delivery.tenant)", "delivery": "\(delivery.id)", "reason": "\(reason)"]
                    )
                    Counter(label: "bespoke_bus_dead_letters_total", dimensions: [("tenant", delivery.tenant.rawValue)]).increment()
                }
            } else {
                await scheduler.finishRetry(subscriptionID, delivery.id, attempts: attempts, notBefore: notBefore, error: reason)
                Counter(label: "bespoke_bus_retries_total", dimensions: [("tenant", delivery.tenant.rawValue)]).increment()
            }
        } catch {
            await scheduler.abortSettle(subscriptionID, delivery.id)
            throw error
        }
    }

    // MARK: Dead letters

    /// A page of a subscription's dead letters, oldest first.
    public func deadLetters(tenant: TenantID, subscription name: String, after: DeadLetterID? = nil, limit: Int = 100) async throws -> [DeadLetter] {
        let subscription = try subscription(tenant: tenant, name: name)
        return try await store.deadLetters(tenant: tenant, subscription: subscription.id, after: after, limit: Swift.min(Swift.max(limit, 1), 1000))
    }

    /// Moves dead letters back to their subscription as fresh deliveries (attempts reset).
    /// - Returns: the ids that were not found for this tenant and subscription.
    @discardableResult
    public func redrive(tenant: TenantID, subscription name: String, _ ids: [DeadLetterID]) async throws -> [DeadLetterID] {
        try ensureRunning()
        let subscription = try subscription(tenant: tenant, name: name)
        let results = try await committer.submit(ids.map { .redrive(tenant, subscription.id, $0) }, tenant: tenant)
        return zip(ids, results).compactMap { $1 == .notFound ? $0 : nil }
    }

    /// Delivers a stored event of the tenant to the subscription again, as a redelivery,
    /// whatever became of its earlier deliveries.
    /// - Throws: ``BespokeError`` `not_found` when the subscription or the event is not the tenant's.
    public func replay(tenant: TenantID, subscription name: String, eventSeq: Int64) async throws {
        try ensureRunning()
        let subscription = try subscription(tenant: tenant, name: name)
        guard try await committer.submit([.replay(tenant, subscription.id, eventSeq: eventSeq)], tenant: tenant).first != .notFound else {
            throw BespokeError.notFound("event")
        }
    }

    /// Redrives the subscription's dead letters that failed at or after `since`, oldest
    /// first, up to ``redriveAllLimit``; returns how many were redriven.
    public func redrive(tenant: TenantID, subscription name: String, failedSince since: Date) async throws -> Int {
        try await redriveAll(tenant: tenant, subscription: name) { $0.failedAt >= since }
    }

    /// The most dead letters one ``redriveAll(tenant:subscription:)`` moves.
    public static let redriveAllLimit = 10_000

    /// Redrives the subscription's dead letters, oldest first, up to ``redriveAllLimit``.
    /// The ids are read before anything is redriven, so dead letters that arrive meanwhile
    /// (a redelivery failing again) wait for the next call, and every call ends.
    /// Returns how many were redriven.
    public func redriveAll(tenant: TenantID, subscription name: String) async throws -> Int {
        try await redriveAll(tenant: tenant, subscription: name) { _ in true }
    }

    private func redriveAll(
        tenant: TenantID, subscription name: String, where included: (DeadLetter) -> Bool
    ) async throws -> Int {
        var ids: [DeadLetterID] = []
        var after: DeadLetterID?
        while ids.count < Self.redriveAllLimit {
            let page = try await deadLetters(tenant: tenant, subscription: name, after: after, limit: 1000)
            ids += page.filter(included).prefix(Self.redriveAllLimit - ids.count).map(\.id)
            after = page.last?.id
            if page.count < 1000 { break }
        }
        var total = 0
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = Array(ids[start..<Swift.min(start + 500, ids.count)])
            total += chunk.count - (try await redrive(tenant: tenant, subscription: name, chunk)).count
        }
        return total
    }
}

extension DeliveryScheduler {
    /// Ends every waiting receive of a subscription early (shutdown of the caller).
    func stopWaiting(_ id: SubscriptionID) {
        for waiter in waiterIDs(id) { cancelWaiter(id, waiter) }
    }
}
