import BespokeCore
public import BespokeStorage
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// The durable multi-tenant event bus.
///
/// Each tenant is an isolated namespace: its events, subscriptions, deliveries and dead letters
/// are reachable only through calls that name that tenant. Publishing returns once the event is
/// committed (publish confirm); concurrent publishers share commits. Delivery is at-least-once,
/// in order per partition key within a subscription, with retries, backoff and dead letters.
///
/// Run it as a `Service`; create it with ``open(store:configuration:logger:)``, which loads the
/// subscriptions before anything can call it.
public final class EventBus: Service, Sendable {
    /// What the bus needs from storage. The inbox is there for its retention: the bus, which
    /// redelivers, sweeps what the store's consumers (``Inbox``) remember.
    public typealias Store = SubscriptionStore & EventLogStore & HoldStore & InboxStore

    public let configuration: BusConfiguration
    let store: any Store
    let logger: Logger
    let index = SubscriptionIndex()
    let scheduler: DeliveryScheduler
    let committer: GroupCommitter
    /// The customization decision; nil when no Tenant Manager runs (nothing is intercepted).
    let interception: (any InterceptionPolicy)?
    let custody: CustodyTracker
    /// Each tenant's publish quota; nil when publishing is not limited.
    let quota: TenantRateLimiter?
    private let refillRequests: AsyncStream<SubscriptionID>
    private let refillContinuation: AsyncStream<SubscriptionID>.Continuation
    private let stopping = Mutex(false)
    /// Subscriptions last reported as keeping their tenant's events past the retention.
    let retentionHoldouts = Mutex<Set<SubscriptionID>>([])
    /// Per-tenant counters of the hot paths.
    let publishedCounters = MetricHandles { Counter(label: "bespoke_bus_events_published_total", dimensions: [("tenant", $0)]) }
    let deliveredCounters = MetricHandles { Counter(label: "bespoke_bus_deliveries_total", dimensions: [("tenant", $0)]) }

    private init(store: any Store, configuration: BusConfiguration, interception: (any InterceptionPolicy)?, logger: Logger) {
        self.store = store
        self.interception = interception
        let custody = CustodyTracker()
        self.custody = custody
        self.configuration = configuration
        self.logger = logger
        self.quota = configuration.publishQuota.map { quota in
            TenantRateLimiter(default: .init(rate: quota.eventsPerSecond, burst: quota.burst), overrides: quota.overrides)
        }
        let (stream, continuation) = AsyncStream.makeStream(of: SubscriptionID.self)
        self.refillRequests = stream
        self.refillContinuation = continuation
        let scheduler = DeliveryScheduler(window: configuration.window) { continuation.yield($0) }
        self.scheduler = scheduler
        self.committer = GroupCommitter(store: store, maxBatchWrites: configuration.maxBatchWrites, logger: logger) {
            writes, results in
            await Self.afterCommit(writes, results, scheduler: scheduler, custody: custody)
        }
    }

    /// Opens the bus over a store: loads every subscription into the in-memory index and
    /// schedules the pending deliveries the store holds (after a restart, everything not acked).
    /// Events in custody are tracked again: held ones get their deadlines (and are pushed again
    /// when their interceptor had not accepted them), and queues whose turn had come are decided.
    ///
    /// - Parameter interception: the customization decision (the Tenant Manager's index); nil
    ///   when nothing is ever intercepted.
    public static func open(
        store: any Store, configuration: BusConfiguration = BusConfiguration(), interception: (any InterceptionPolicy)? = nil,
        logger: Logger
    ) async throws -> EventBus {
        let bus = EventBus(store: store, configuration: configuration, interception: interception, logger: logger)
        for subscription in try await store.allSubscriptions() {
            bus.index.insert(subscription)
            await bus.scheduler.add(subscription)
            await bus.scheduler.enqueue(try await store.redeliveries(subscription))
        }
        var headsSeen: Set<String> = []
        for hold in try await store.activeHolds() {
            bus.custody.track(hold)
            // Oldest first: the first active hold of a key is the head of its queue.
            guard let key = hold.partitionKey else { continue }
            if headsSeen.insert(hold.tenant.rawValue + "\u{1F}" + key).inserted, hold.state == .waiting {
                bus.custody.turnCame(hold)
            }
        }
        return bus
    }

    /// Hands what a commit made deliverable to the scheduler.
    private static func afterCommit(
        _ writes: [BusWrite], _ results: [BusWriteResult], scheduler: DeliveryScheduler, custody: CustodyTracker
    ) async {
        var events: [(event: EventToStore, seq: Int64, storedAt: Date)] = []
        var redeliveries: [Delivery] = []
        for (write, result) in zip(writes, results) {
            switch (write, result) {
            case (.publish(let event), .published(let seq, let storedAt, false)),
                (.admit(let event, _), .published(let seq, let storedAt, false)):
                events.append((event, seq, storedAt))
            case (_, .redriven(let delivery)): redeliveries.append(delivery)
            case (_, .held(let hold, false)): custody.track(hold)
            case (.releaseHold(_, let id, _, _), .released(let event, let seq, let storedAt, let next)):
                custody.untrack(id)
                events.append((event, seq, storedAt))
                if let next { custody.turnCame(next) }
            case (_, .closed(let hold, let next)):
                custody.untrack(hold.id)
                if let next { custody.turnCame(next) }
            default: continue
            }
        }
        if !events.isEmpty { await scheduler.enqueue(events: events) }
        if !redeliveries.isEmpty { await scheduler.enqueue(redeliveries) }
    }

    /// Whether the bus is accepting work.
    public var isRunning: Bool { !stopping.withLock { $0 } }

    // MARK: Service

    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.committer.run() }
                group.addTask { await self.tickLoop() }
                group.addTask { await self.refillLoop() }
                group.addTask { await self.custodyLoop() }
                group.addTask { await self.deadlineLoop() }
                group.addTask { await self.retentionLoop() }
            }
        } onCancelOrGracefulShutdown: {
            self.shutdown()
        }
        logger.info("event bus stopped")
    }

    /// Stops accepting work. The tick loop then persists the cursors, and queued writes are
    /// committed before ``run()`` returns.
    private func shutdown() {
        stopping.withLock { $0 = true }
    }

    private func tickLoop() async {
        var lastFlush = ContinuousClock.now
        while !stopping.withLock({ $0 }) {
            try? await Task.sleep(for: configuration.tickInterval)
            if ContinuousClock.now - lastFlush >= configuration.cursorFlushInterval {
                await flushCursors()
                lastFlush = ContinuousClock.now
            }
            let expired = await scheduler.tick(now: Date())
            guard !expired.isEmpty else { continue }
            await withDiscardingTaskGroup { group in
                for delivery in expired {
                    group.addTask {
                        let seconds = self.index.subscription(delivery.subscription)?.policy.ackTimeout.seconds ?? 0
                        try? await self.fail(delivery, reason: "not acknowledged within \(seconds)s", retryAfter: nil)
                    }
                }
            }
        }
        await flushCursors()
        committer.close()
        refillContinuation.finish()
        custody.finish()
        await scheduler.stop()
    }

    /// Persists the cursors acknowledgements moved, one write per subscription.
    func flushCursors() async {
        let moved = await scheduler.takeCursors()
        guard !moved.isEmpty else { return }
        let byTenant = Dictionary(grouping: moved, by: \.tenant)
        await withDiscardingTaskGroup { group in
            for (tenant, cursors) in byTenant {
                group.addTask {
                    do {
                        _ = try await self.committer.submit(
                            cursors.map { .advanceCursor(tenant, $0.subscription, to: $0.cursor) }, tenant: tenant
                        )
                    } catch {
                        // Tried again at the next flush; until then a restart redelivers (at-least-once).
                        await self.scheduler.cursorsNotPersisted(cursors.map(\.subscription))
                        self.logger.warning("persisting cursors failed", metadata: ["tenant": "\(tenant)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    private func refillLoop() async {
        for await id in refillRequests {
            guard let cursor = await scheduler.refillCursor(id) else { continue }
            do {
                let page = try await store.pendingDeliveries(cursor.subscription, after: cursor.after, limit: cursor.limit)
                await scheduler.completeRefill(id, page: page)
            } catch {
                logger.error("refilling subscription failed", metadata: ["subscription": "\(id)", "error": "\(error)"])
                await scheduler.failRefill(id)
            }
        }
    }

    func ensureRunning() throws(BespokeError) {
        if stopping.withLock({ $0 }) { throw BespokeError(.unavailable, "the bus is shutting down") }
    }
}
