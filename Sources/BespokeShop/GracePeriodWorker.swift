import BespokeCore
import Foundation
import Logging
import ServiceLifecycle

/// Moves orders on when their grace period ends: marks them and raises `GracePeriodConfirmed`
/// in one transaction. It sleeps until the oldest waiting order is due (at most
/// ``ShopConfiguration/gracePeriodCheckInterval``), and is woken by new orders.
struct GracePeriodWorker: Service {
    let shop: Shop

    func run() async throws {
        let grace = shop.configuration.gracePeriod
        let interval = shop.configuration.gracePeriodCheckInterval
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                var wait = interval
                do {
                    let confirmed = try await shop.ordering.confirmGracePeriods(endedBefore: Date().addingTimeInterval(-grace.seconds))
                    if confirmed > 0 { shop.relay.wake() }
                    if let oldest = try await shop.ordering.oldestInGracePeriod() {
                        let due = oldest.addingTimeInterval(grace.seconds).timeIntervalSinceNow
                        wait = min(wait, .milliseconds(max(0, Int64(due * 1000) + 1)))
                    }
                } catch {
                    shop.logger.error("confirming grace periods failed", metadata: ["error": "\(error)"])
                }
                await shop.newOrders.wait(upTo: wait)
            }
        }
    }
}
