import BespokeCore
import BespokeStorage
import Foundation
import Metrics

extension EventBus {
    /// Events looked at per step of a sweep, and closed holds deleted per transaction: small
    /// enough that a commit of the bus waiting behind one waits little, large enough to delete
    /// over 100k events a second (see `bench bus` and ARCHITECTURE.md for the figures).
    public static let retentionBatch = 250

    /// Deletes closed holds, settled events and inbox records past their retention, at start and then every
    /// ``BusConfiguration/retentionSweepInterval`` (a loop of its own: a long first sweep of
    /// a large log does not hold hold deadlines back). It looks at least every 100 ms whether
    /// the bus is stopping, so a stop never waits for the next sweep.
    func retentionLoop() async {
        let interval = max(configuration.retentionSweepInterval, .milliseconds(10))
        var nextSweep = ContinuousClock.now
        while isRunning {
            if ContinuousClock.now >= nextSweep {
                await deleteExpiredClosedHolds()
                await deleteSettledEventsPastRetention()
                await deleteInboxRecordsPastRetention()
                nextSweep = ContinuousClock.now + interval
            }
            try? await Task.sleep(for: min(interval, .milliseconds(100)))
        }
    }

    /// Deletes closed holds older than ``BusConfiguration/closedHoldRetention``, in batches.
    func deleteExpiredClosedHolds() async {
        let cutoff = Date().addingTimeInterval(-configuration.closedHoldRetention.seconds)
        await deleteInBatches("closed holds") { limit in try await store.deleteClosedHolds(closedBefore: cutoff, limit: limit) }
    }

    /// Deletes the store's inbox records older than ``BusConfiguration/inboxRetention``, in
    /// batches, and returns how many it deleted.
    @discardableResult
    func deleteInboxRecordsPastRetention(now: Date = Date()) async -> Int {
        let cutoff = now.addingTimeInterval(-configuration.inboxRetention.seconds)
        let deleted = await deleteInBatches("inbox records") { limit in try await store.deleteProcessed(before: cutoff, limit: limit) }
        if deleted > 0 { Counter(label: "bespoke_inbox_records_expired_total").increment(by: deleted) }
        return deleted
    }

    /// Runs `step` with ``retentionBatch`` until it deletes fewer, or the bus stops; logs what
    /// it deleted, or why it failed, as `what` past their retention.
    @discardableResult
    private func deleteInBatches(_ what: String, _ step: (Int) async throws -> Int) async -> Int {
        var deleted = 0
        do {
            while isRunning {
                let batch = try await step(Self.retentionBatch)
                deleted += batch
                if batch < Self.retentionBatch { break }
            }
        } catch {
            logger.warning("deleting \(what) past their retention failed", metadata: ["error": "\(error)"])
        }
        if deleted > 0 { logger.info("\(what) past their retention deleted", metadata: ["count": "\(deleted)"]) }
        return deleted
    }

    /// Deletes events older than ``BusConfiguration/eventRetention`` that every subscription of
    /// their tenant has settled, a step at a time, and returns how many it deleted.
    @discardableResult
    func deleteSettledEventsPastRetention(now: Date = Date()) async -> Int {
        guard let retention = configuration.eventRetention else { return 0 }
        let cutoff = now.addingTimeInterval(-retention.seconds)
        var deleted = 0
        var position: Int64?
        do {
            repeat {
                let step = try await store.deleteSettledEvents(storedBefore: cutoff, after: position, limit: Self.retentionBatch)
                deleted += step.deleted
                position = step.resumeAfter
            } while position != nil && isRunning
        } catch {
            logger.warning("deleting events past their retention failed", metadata: ["error": "\(error)"])
        }
        if deleted > 0 {
            Counter(label: "bespoke_bus_events_expired_total").increment(by: deleted)
            logger.info("settled events past their retention deleted", metadata: ["count": "\(deleted)"])
        }
        await reportSubscriptionsHoldingBack(storedBefore: cutoff)
        return deleted
    }

    /// Tells the operator which subscriptions keep their tenants' events past the retention (a
    /// consumer gone, a customization disabled): a gauge of how many, and a warning when one
    /// starts to (not at every sweep).
    func reportSubscriptionsHoldingBack(storedBefore cutoff: Date) async {
        let holding: [Subscription]
        do {
            holding = try await store.subscriptionsHoldingBack(storedBefore: cutoff)
        } catch {
            logger.warning("finding the subscriptions that hold events back failed", metadata: ["error": "\(error)"])
            return
        }
        Gauge(label: "bespoke_bus_subscriptions_holding_back_retention").record(holding.count)
        let newly = retentionHoldouts.withLock { reported in
            let current = Set(holding.map(\.id))
            defer { reported = current }
            return holding.filter { !reported.contains($0.id) }
        }
        for subscription in newly {
            logger.warning(
                "a subscription keeps its tenant's events past their retention: it has yet to settle events stored before the cutoff",
                metadata: ["tenant": "\(subscription.tenant)", "subscription": "\(subscription.name)", "cursor": "\(subscription.cursor)"]
            )
        }
    }
}
