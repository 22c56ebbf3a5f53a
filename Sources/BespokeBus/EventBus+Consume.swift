public import BespokeCore
public import BespokeStorage
import Foundation

extension EventBus {
    /// Runs an in-process consumer of a subscription until the task is cancelled or the bus stops.
    ///
    /// `concurrency` workers each lease up to `batchSize` deliveries and call `handler` for
    /// each in order. A delivery whose handler returns is acked (a batch's acks go together, or
    /// as soon as half the ack timeout has passed); one whose handler throws is nacked with the error as reason and retried per
    /// the subscription's policy. Deliveries with the same partition key are never handled
    /// concurrently, and arrive in publish order.
    public func consume(
        tenant: TenantID,
        subscription name: String,
        concurrency: Int = 4,
        batchSize: Int = 32,
        handler: @escaping @Sendable (Delivery) async throws -> Void
    ) async throws {
        _ = try subscription(tenant: tenant, name: name)
        try await withThrowingDiscardingTaskGroup { group in
            for _ in 0..<Swift.max(concurrency, 1) {
                group.addTask {
                    try await self.consumeLoop(tenant: tenant, subscription: name, batchSize: batchSize, handler: handler)
                }
            }
        }
    }

    private func consumeLoop(
        tenant: TenantID, subscription name: String, batchSize: Int,
        handler: @Sendable (Delivery) async throws -> Void
    ) async throws {
        while !Task.isCancelled, isRunning {
            let batch: [Delivery]
            do {
                batch = try await receive(tenant: tenant, subscription: name, max: batchSize, wait: .seconds(1))
            } catch let error as BespokeError where error.code == .unavailable {
                return
            }
            // Acks are gathered over the batch and sent together, and sooner once half the ack
            // timeout has passed, so slow handlers never let a lease lapse unacknowledged.
            let leasedAt = ContinuousClock.now
            let flushAfter = (index.subscription(tenant: tenant, name: name)?.policy.ackTimeout ?? .seconds(30)) / 2
            var handled: [DeliveryReceipt] = []
            for delivery in batch {
                do {
                    try await handler(delivery)
                    handled.append(delivery.receipt)
                } catch {
                    do {
                        try await nack(tenant: tenant, subscription: name, delivery.receipt, reason: "\(error)")
                    } catch {
                        logger.error("nack failed", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
                    }
                }
                if ContinuousClock.now - leasedAt > flushAfter {
                    await acknowledge(tenant: tenant, subscription: name, &handled)
                }
            }
            await acknowledge(tenant: tenant, subscription: name, &handled)
        }
    }

    private func acknowledge(tenant: TenantID, subscription name: String, _ handled: inout [DeliveryReceipt]) async {
        guard !handled.isEmpty else { return }
        defer { handled.removeAll() }
        do {
            try await ack(tenant: tenant, subscription: name, handled)
        } catch let error as BespokeError where error.code == .unavailable {
            // The bus is stopping: the deliveries come again after a restart.
            logger.debug("ack refused while stopping", metadata: ["count": "\(handled.count)"])
        } catch {
            // Not acked: the deliveries come again after their ack timeout (at-least-once).
            logger.error("ack failed", metadata: ["count": "\(handled.count)", "error": "\(error)"])
        }
    }
}
