public import BespokeSDK
public import BespokeWebhooks
import Foundation
public import Hummingbird
public import Logging

/// Tenant B's customization (the paper's second scenario): it intercepts
/// `OrderStatusChangedToAwaitingValidation`, so the platform holds each order before the
/// stock check; its scanning station page records each line's RFID tag, publishes
/// `RFIDTagScanned`, and resumes the held event once every line is scanned; only then does
/// the order go on to stock confirmation and payment. The order detail page of the shop
/// shows the scanning status.
///
/// Register with the platform: `OrderStatusChangedToAwaitingValidation` intercept →
/// `<url>/hooks/events`, `ui.order-detail.panel` ui → `<url>/hooks/slots`.
public enum RFIDService {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 0
        public var tenant: String
        public var platformURL: String
        public var credentials: ClientCredentials
        public var secrets: [WebhookSecret]
        public var databasePath: String
        public var releaseInterval: Duration = .milliseconds(500)

        public init(tenant: String, platformURL: String, credentials: ClientCredentials, secrets: [WebhookSecret], databasePath: String) {
            self.tenant = tenant
            self.platformURL = platformURL
            self.credentials = credentials
            self.secrets = secrets
            self.databasePath = databasePath
        }
    }

    /// The service's HTTP server (hooks and scanning station) and its release worker.
    public static func buildApplication(
        _ configuration: Configuration, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let store = try ScanStore(path: configuration.databasePath)
        let platform = PlatformClient(baseURL: configuration.platformURL, tenant: configuration.tenant, credentials: configuration.credentials)
        let worker = ReleaseWorker(store: store, platform: platform, interval: configuration.releaseInterval, logger: logger)

        var hooks = TenantHooks(tenant: configuration.tenant, secrets: configuration.secrets)
        hooks.onEvent(AwaitingValidation.self) { order, event in
            guard let hold = event.hold else {
                // Observed rather than intercepted: nothing to release later.
                return
            }
            let lines = order.orderStockItems ?? []
            guard !lines.isEmpty else {
                // Nothing to scan: let it go on at once rather than at the hold's deadline.
                try await platform.resume(hold: hold)
                return
            }
            try await store.keep(orderID: order.orderId, buyer: order.buyerName, hold: hold, lines: lines)
            logger.notice("holding order for scanning", metadata: ["order": "\(order.orderId)", "hold": "\(hold)"])
            // An order scanned before a repeated hold is released by the worker's next round.
        }
        hooks.onSlot("ui.order-detail.panel") { (context: OrderDetailContext, _: ExtensionCall) -> [UISlotEntry] in
            guard let order = try await store.order(context.orderId), order.buyer == context.buyer else { return [] }
            return panel(order)
        }

        let router = Router()
        router.get("health") { _, _ in HTTPResponse.Status.ok }
        hooks.addRoutes(to: router)
        ScanStation(store: store, worker: worker, pages: try ScanStationPages()).addRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "rfid-service"),
            services: [worker],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }

    /// The rows of the order detail panel. The buyer sees the status only: the scanning
    /// station is for the warehouse.
    static func panel(_ order: ScanStore.HeldOrder) -> [UISlotEntry] {
        let status: String
        if order.released {
            status = "all \(order.lines.count) lines scanned; released to stock confirmation"
        } else {
            status = "\(order.scanned) of \(order.lines.count) lines scanned; waiting at the scanning station"
        }
        return [UISlotEntry(label: "RFID scan", value: status)]
    }
}
