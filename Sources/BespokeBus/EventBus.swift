public import BespokeCore
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
    /// What the bus needs from storage.
    public typealias Store = SubscriptionStore & EventLogStore

    public let configuration: BusConfiguration
    let store: any Store
    let logger: Logger
    let index = SubscriptionIndex()
    let scheduler: DeliveryScheduler
    let committer: GroupCommitter
    private let refillRequests: AsyncStream<SubscriptionID>
    private let refillContinuation: AsyncStream<SubscriptionID>.Continuation
    private let stopping = Mutex(false)

    private init(store: any Store, configuration: BusConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: SubscriptionID.self)
        self.refillRequests = stream
        self.refillContinuation = continuation
        let scheduler = DeliveryScheduler(window: configuration.window) { continuation.yield($0) }
        self.scheduler = scheduler
        self.committer = GroupCommitter(store: store, maxBatchWrites: configuration.maxBatchWrites, logger: logger) {
            writes, results in
            await Self.afterCommit(results, scheduler: scheduler)
        }
    }

    /// Opens the bus over a store: loads every subscription into the in-memory index and
    /// schedules the pending deliveries the store holds (after a restart, everything not acked).
    public static func open(store: any Store, configuration: BusConfiguration = BusConfiguration(), logger: Logger) async throws -> EventBus {
        let bus = EventBus(store: store, configuration: configuration, logger: logger)
        for subscription in try await store.allSubscriptions() {
            bus.index.insert(subscription)
            await bus.scheduler.add(subscription)
        }
        return bus
    }

    private static func afterCommit(_ results: [BusWriteResult], scheduler: DeliveryScheduler) async {
        var fresh: [Delivery] = []
        for result in results {
            switch result {
            case .published(_, _, false, let deliveries): fresh += deliveries
            case .redriven(let delivery): fresh.append(delivery)
            default: continue
            }
        }
        if !fresh.isEmpty { await scheduler.enqueue(fresh) }
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
            }
        } onCancelOrGracefulShutdown: {
            self.shutdown()
        }
        logger.info("event bus stopped")
    }

    /// Stops accepting work; queued writes are still committed before ``run()`` returns.
    private func shutdown() {
        let first = stopping.withLock { stopping in
            defer { stopping = true }
            return !stopping
        }
        guard first else { return }
        committer.close()
        refillContinuation.finish()
    }

    private func tickLoop() async {
        while !stopping.withLock({ $0 }) {
            try? await Task.sleep(for: configuration.tickInterval)
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
        await scheduler.stop()
    }

    private func refillLoop() async {
        for await id in refillRequests {
            guard let cursor = await scheduler.refillCursor(id) else { continue }
            do {
                let read = try await store.pendingDeliveries(
                    tenant: cursor.tenant, subscription: id, after: cursor.after, limit: cursor.limit
                )
                await scheduler.completeRefill(id, read: read, limit: cursor.limit)
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
