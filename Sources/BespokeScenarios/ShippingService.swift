import AsyncHTTPClient
public import BespokeSDK
public import BespokeWebhooks
import Foundation
public import Hummingbird
public import Logging

/// Tenant A's customization (the paper's first scenario): it observes submitted orders, asks
/// the shipping company for an estimated delivery date, keeps it in its own database, and
/// shows it in a SHIPPING DATE column of My Orders. It also refuses, at the
/// `ext.order.validate` extension point, orders shipped outside its delivery area.
///
/// Register with the platform (tenant A's key or admin):
/// `UserCheckoutAccepted` observe → `<url>/hooks/events`, `ui.my-orders.columns` ui →
/// `<url>/hooks/slots`, `ext.order.validate` sync → `<url>/hooks/extensions`.
public enum ShippingService {
    /// How the service learns what it needs about an order.
    public enum Mode: String, Sendable, CaseIterable {
        /// From the `UserCheckoutAccepted` event: no call into the product, and checkout does
        /// not wait for the shipper.
        case event
        /// Synchronously, at `ext.order.validate` during checkout: the service reads the
        /// basket and each product from the product's API and asks the shipper while the
        /// buyer waits (the comparison the paper makes; `bespoke bench scenario`).
        case sync
    }

    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 0
        public var tenant: String
        public var platformURL: String
        public var credentials: ClientCredentials
        /// The signing secrets of the service's registrations.
        public var secrets: [WebhookSecret]
        public var shipperURL: String
        public var databasePath: String
        /// Countries (ISO 3166 alpha-2) the tenant delivers to; orders elsewhere are refused.
        public var deliveryCountries: Set<String> = ["NO", "SE", "DK", "FI"]
        public var mode: Mode = .event
        /// How often pending dates are looked at.
        public var pollInterval: Duration = .milliseconds(250)

        public init(
            tenant: String, platformURL: String, credentials: ClientCredentials, secrets: [WebhookSecret], shipperURL: String,
            databasePath: String
        ) {
            self.tenant = tenant
            self.platformURL = platformURL
            self.credentials = credentials
            self.secrets = secrets
            self.shipperURL = shipperURL
            self.databasePath = databasePath
        }
    }

    public static let columnLabel = "SHIPPING DATE"

    /// The service's HTTP server and its date worker.
    public static func buildApplication(
        _ configuration: Configuration, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let store = try ShipmentStore(path: configuration.databasePath)
        let shipper = ShipperClient(baseURL: configuration.shipperURL, httpClient: .shared, timeout: .seconds(5))
        let platform = PlatformClient(baseURL: configuration.platformURL, tenant: configuration.tenant, credentials: configuration.credentials)
        let hooks = makeHooks(configuration, store: store, shipper: shipper, platform: platform)
        let router = Router()
        router.get("health") { _, _ in HTTPResponse.Status.ok }
        hooks.addRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "shipping-service"),
            services: [DeliveryDateWorker(store: store, shipper: shipper, interval: configuration.pollInterval, logger: logger)],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }

    static func makeHooks(_ configuration: Configuration, store: ShipmentStore, shipper: ShipperClient, platform: PlatformClient) -> TenantHooks {
        var hooks = TenantHooks(tenant: configuration.tenant, secrets: configuration.secrets)
        let countries = configuration.deliveryCountries

        // The event way: everything needed travels in the event.
        hooks.onEvent(CheckoutAccepted.self) { order, _ in
            try await store.record(
                orderID: order.orderID, buyer: order.userId, zipCode: order.address.zipCode, country: order.address.country,
                units: order.items.reduce(0) { $0 + $1.units }
            )
        }

        hooks.onExtension("ext.order.validate") { (order: OrderToValidate, call: ExtensionCall) -> Verdict in
            guard countries.contains(order.address.country.uppercased()) else {
                return Verdict(valid: false, reason: "We deliver only to \(countries.sorted().joined(separator: ", ")).")
            }
            if configuration.mode == .sync {
                try await estimateWhileTheBuyerWaits(order, call: call, tenant: configuration.tenant, platform: platform, shipper: shipper)
            }
            return Verdict(valid: true)
        }

        hooks.onSlot("ui.my-orders.columns") { (context: MyOrdersContext, _: ExtensionCall) -> [UISlotEntry] in
            try await store.shipments(buyer: context.buyer, orderIDs: context.orderIds).map {
                UISlotEntry(key: $0.orderID, label: columnLabel, value: $0.estimatedDelivery ?? "estimating…")
            }
        }
        return hooks
    }

    /// The synchronous way: the call carries no order the service can keep, so it reads what
    /// it needs from the product's API (the basket, then each product) and asks the shipper,
    /// all within the checkout.
    static func estimateWhileTheBuyerWaits(
        _ order: OrderToValidate, call: ExtensionCall, tenant: String, platform: PlatformClient, shipper: ShipperClient
    ) async throws {
        struct Basket: Decodable {
            struct Line: Decodable { let productId: String; let quantity: Int }
            let items: [Line]
        }
        struct Product: Decodable { let id: String }
        let headers = call.propagationHeaders + [("Bespoke-Buyer", order.buyer)]
        let basket = try await platform.get("/v1/tenants/\(tenant)/shop/basket", as: Basket.self, headers: headers)
        for line in basket.items {
            _ = try await platform.get("/v1/tenants/\(tenant)/shop/catalog/items/\(line.productId)", as: Product.self, headers: headers)
        }
        _ = try await shipper.estimate(
            zipCode: order.address.zipCode, country: order.address.country, units: basket.items.reduce(0) { $0 + $1.quantity }
        )
    }
}
