import Foundation
import Logging
import ServiceLifecycle

/// Fills in the delivery date of every recorded order, asking the shipper; when the shipper
/// fails, tries that order again later (1 s, doubling, at most 30 s apart), so an outage only
/// delays dates.
struct DeliveryDateWorker: Service {
    let store: ShipmentStore
    let shipper: ShipperClient
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                for shipment in try await store.due() {
                    await estimate(shipment)
                }
            } catch {
                logger.error("cannot read pending shipments", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    private func estimate(_ shipment: ShipmentStore.Shipment) async {
        do {
            let date = try await shipper.estimate(zipCode: shipment.zipCode, country: shipment.country, units: shipment.units)
            try await store.setEstimate(orderID: shipment.orderID, date: date)
            logger.info("estimated", metadata: ["order": "\(shipment.orderID)", "date": "\(date)"])
        } catch {
            let delay = min(30.0, pow(2, Double(min(shipment.attempts, 5))))
            logger.warning("the shipper failed; trying again", metadata: ["order": "\(shipment.orderID)", "in": "\(delay)s", "error": "\(error)"])
            try? await store.recordFailure(orderID: shipment.orderID, error: "\(error)", retryAt: Date().addingTimeInterval(delay))
        }
    }
}
