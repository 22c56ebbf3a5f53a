import AsyncHTTPClient
import BespokeAPI
import BespokeCore
import BespokeCustomization
public import BespokeSQLite
import BespokeScenarios
import BespokeSDK
import BespokeServer
import BespokeShop
import BespokeStorage
import Foundation
import GRDB
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Options of `bespoke bench scenario`.
public struct ScenarioBenchmarkOptions: Sendable {
    /// Orders placed for each way.
    public var orders = 200
    /// Shoppers checking out at the same time.
    public var shoppers = 4
    /// How long the shipping company takes to estimate (plus up to half as much at random).
    public var shipperLatency: Duration = .milliseconds(120)
    public var durability: SQLiteStore.Durability = .full
    public var directory: String

    public init(directory: String) {
        self.directory = directory
    }
}

/// The paper's claim, measured: Tenant A's shipping-date customization done the event way
/// (the service observes `UserCheckoutAccepted`, which carries what it needs) and done the
/// synchronous way (the product calls the service at `ext.order.validate` during checkout,
/// and the service reads the basket and each product from the product's API and asks the
/// shipper while the buyer waits), next to a tenant without the customization. Everything
/// runs over real HTTP on loopback: platform, shipper and the two shipping services. Reports
/// the API calls the customization makes into the product per order and the checkout's latency.
public enum ScenarioBenchmark {
    enum Way: String, CaseIterable {
        case none, events, sync
    }

    public static func run(_ options: ScenarioBenchmarkOptions, report: @escaping @Sendable (String) -> Void) async throws {
        var (configuration, logger) = try BenchServer.configuration(directory: options.directory, durability: options.durability)
        configuration.shop.gracePeriod = .zero
        configuration.customization.outbound.allowLoopback = true
        let platform = try await openPlatform(configuration, logger: logger)
        var keys: [Way: String] = [:]
        for way in Way.allCases {
            let created = try await TenantOnboarding.createTenant(id: way.rawValue, name: nil, tenants: platform.store, keys: platform.store)
            try await ShopSeed.seed(
                ShopSettings(tenant: created.tenant.id, name: way.rawValue),
                catalog: [
                    CatalogItem(id: "widget", name: "Widget", description: "", price: 1_000, stock: 1_000_000_000),
                    CatalogItem(id: "gadget", name: "Gadget", description: "", price: 2_500, stock: 1_000_000_000),
                ],
                in: platform.shop.database
            )
            keys[way] = created.secret
        }
        let (port, server) = try await BenchServer.serve(platform, configuration, logger: logger)
        defer { server.cancel() }
        let base = "http://127.0.0.1:\(port)"
        // The services are stopped by cancellation at the end; their complaints about it are noise.
        var quiet = logger
        quiet.logLevel = .critical
        let serviceLogger = quiet

        var shipperConfiguration = FakeShipper.Configuration(latency: options.shipperLatency, jitter: options.shipperLatency / 2)
        shipperConfiguration.port = 0
        let (shipperPort, shipper) = try await BenchServer.run { FakeShipper.buildApplication(shipperConfiguration, logger: serviceLogger, onServerRunning: $0) }
        defer { shipper.cancel() }
        var services: [Task<Void, any Error>] = []
        defer { for service in services { service.cancel() } }
        for (way, mode, eventType, customizationMode, hook) in [
            (Way.events, ShippingService.Mode.event, "UserCheckoutAccepted", CustomizationMode.observe, "events"),
            (Way.sync, .sync, "ext.order.validate", .sync, "extensions"),
        ] {
            let tenant = TenantID(trusted: way.rawValue)
            let (client, secret) = try await platform.identity.createClient(
                tenant: tenant, name: "shipping", confidential: true, scopes: ["shop"], redirectURIs: []
            )
            let (registration, signing) = try await platform.manager.register(
                tenant: tenant, eventType: eventType, mode: customizationMode, url: "http://127.0.0.1:1/", .init(timeout: .seconds(2))
            )
            var service = ShippingService.Configuration(
                tenant: way.rawValue, platformURL: base, credentials: ClientCredentials(clientID: client.id, clientSecret: secret ?? ""),
                secrets: [try WebhookSecret(signing)], shipperURL: "http://127.0.0.1:\(shipperPort)",
                databasePath: (options.directory as NSString).appendingPathComponent("\(way.rawValue)-shipping.sqlite")
            )
            service.mode = mode
            let settings = service
            let (servicePort, task) = try await BenchServer.run { try ShippingService.buildApplication(settings, logger: serviceLogger, onServerRunning: $0) }
            services.append(task)
            _ = try await platform.manager.update(tenant: tenant, id: registration.id, .init(url: "http://127.0.0.1:\(servicePort)/hooks/\(hook)"))
        }

        report("bespoke bench scenario: \(options.orders) orders per way, \(options.shoppers) shoppers at once, "
            + "shipper latency \(options.shipperLatency.wholeMilliseconds) ms + up to half as much, durability \(options.durability.rawValue)")
        report("  way      checkout p50   checkout p99   added p50   API calls into the product per order   dates estimated")
        var baseline = 0.0
        for way in Way.allCases {
            let key = keys[way]!
            let latency = try await placeOrders(options, base: base, tenant: way.rawValue, key: key)
            let usage = try await serviceCalls(base: base, tenant: way.rawValue, key: key)
            let dates = try await estimatedDates(options, way: way)
            if way == .none { baseline = latency.p50 }
            let name = way.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
            let figures = String(
                format: "%9.2f ms   %9.2f ms   %+7.2f ms   %37.2f", latency.p50, latency.p99, latency.p50 - baseline,
                Double(usage) / Double(options.orders)
            )
            report("  \(name)  \(figures)   \(dates)")
        }
    }

    /// Each shopper puts two products in the basket and checks out, until the orders are
    /// placed; returns the checkout's latency.
    private static func placeOrders(
        _ options: ScenarioBenchmarkOptions, base: String, tenant: String, key: String
    ) async throws -> (p50: Double, p99: Double, p999: Double) {
        let checkouts = LatencyRecorder()
        let next = OrderNumbers()
        let body = #"{"address":{"street":"1 Main","city":"Oslo","zipCode":"0150","country":"NO"},"cardHolderName":"Bench","cardNumber":"4111111111111111"}"#
        try await withThrowingTaskGroup(of: Void.self) { group in
            for shopper in 0..<options.shoppers {
                group.addTask {
                    let client = HTTPClient.shared
                    while next.take() < options.orders {
                        let buyer = "shopper-\(shopper)"
                        for product in ["widget", "gadget"] {
                            let put = try await ShopBenchmark.call(
                                client, base, .PUT, "/v1/tenants/\(tenant)/shop/basket/items/\(product)", key: key, buyer: buyer, body: #"{"quantity":1}"#
                            )
                            guard put == 200 else { throw BenchFailure("basket answered \(put)") }
                        }
                        let before = monotonicNanos()
                        let status = try await ShopBenchmark.call(client, base, .POST, "/v1/tenants/\(tenant)/shop/basket/checkout", key: key, buyer: buyer, body: body)
                        checkouts.record(monotonicNanos() - before)
                        guard status == 202 else { throw BenchFailure("checkout of \(tenant) answered \(status)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        return checkouts.percentiles()
    }

    /// The calls the tenant's services made into the platform's API (`/usage`, caller kind
    /// `service`): token requests are not API calls and are not counted.
    private static func serviceCalls(base: String, tenant: String, key: String) async throws -> Int {
        var request = HTTPClientRequest(url: base + "/v1/tenants/\(tenant)/usage")
        request.headers.add(name: "authorization", value: "Bearer \(key)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 * 1024)
        struct Usage: Decodable { let apiCalls: [String: Int] }
        return try JSONDecoder().decode(Usage.self, from: Data(body.readableBytesView)).apiCalls["service"] ?? 0
    }

    /// How many orders got a date from the event way's service (waiting up to a minute).
    private static func estimatedDates(_ options: ScenarioBenchmarkOptions, way: Way) async throws -> String {
        guard way == .events else { return way == .sync ? "asked during checkout" : "-" }
        let queue = try DatabaseQueue(path: (options.directory as NSString).appendingPathComponent("events-shipping.sqlite"))
        let deadline = ContinuousClock.now + .seconds(60)
        var count = 0
        while ContinuousClock.now < deadline {
            count = try await queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM shipment WHERE estimated_delivery IS NOT NULL") ?? 0 }
            if count >= options.orders { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return "\(count) of \(options.orders), after checkout"
    }
}
