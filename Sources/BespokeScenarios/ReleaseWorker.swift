import BespokeSDK
import Logging
import ServiceLifecycle

/// Publishes each recorded scan as `RFIDTagScanned`, then resumes the hold of every order
/// whose lines are all scanned. Runs after every scan and every half second, so a scan made
/// while the platform was unreachable, or before a crash, is published and released later.
struct ReleaseWorker: Service {
    let store: ScanStore
    let platform: PlatformClient
    let interval: Duration
    let logger: Logger

    static let scanEventType = "RFIDTagScanned"
    static let source = "/tenant-services/rfid-station"

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await pass()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One round: publish, then release. Safe to run concurrently with itself: a scan is
    /// published under a stable id (stored once by the platform), and a second resume of a
    /// hold is refused as not held.
    func pass() async {
        struct Scanned: Encodable { let orderId: String; let productId: String; let tag: String }
        do {
            for scan in try await store.unpublishedScans() {
                do {
                    try await platform.publish(
                        type: Self.scanEventType, id: "\(scan.orderID)/\(scan.productID)/\(scan.tag)", source: Self.source,
                        data: Scanned(orderId: scan.orderID, productId: scan.productID, tag: scan.tag), partitionKey: scan.orderID
                    )
                    try await store.markPublished(scan)
                } catch {
                    logger.warning("cannot publish a scan yet; trying again", metadata: ["order": "\(scan.orderID)", "error": "\(error)"])
                }
            }
            for order in try await store.readyToRelease() {
                do {
                    try await release(order)
                } catch {
                    logger.warning("cannot release yet; trying again", metadata: ["order": "\(order.orderId)", "error": "\(error)"])
                }
            }
        } catch {
            logger.error("cannot read the scans", metadata: ["error": "\(error)"])
        }
    }

    /// Resumes the order's hold and notes it released.
    func release(_ order: ScanStore.HeldOrder) async throws {
        do {
            try await platform.resume(hold: order.hold)
            logger.notice("released", metadata: ["order": "\(order.orderId)", "hold": "\(order.hold)"])
        } catch let error as PlatformError where error.status == 404 || error.status == 409 {
            // Released already (by an earlier round), or the hold ended on its deadline.
            logger.notice("hold no longer held", metadata: ["order": "\(order.orderId)", "reason": "\(error)"])
        }
        try await store.markReleased(orderID: order.orderId, hold: order.hold)
    }
}
