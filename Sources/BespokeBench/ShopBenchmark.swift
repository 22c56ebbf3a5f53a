import AsyncHTTPClient
import BespokeAPI
import BespokeCore
public import BespokeSQLite
import BespokeServer
import BespokeShop
import Foundation
import GRDB
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Options of `bespoke bench shop`.
public struct ShopBenchmarkOptions: Sendable {
    /// Orders placed in all.
    public var orders = 2000
    /// Tenants, each with its own shop; shoppers spread over them.
    public var tenants = 20
    /// Shoppers checking out at the same time (each: put a product in the basket, check out).
    public var shoppers = 32
    /// The grace period before validation (0 measures the flow itself).
    public var gracePeriod: Duration = .zero
    public var durability: SQLiteStore.Durability = .full
    public var directory: String

    public init(directory: String) {
        self.directory = directory
    }
}

/// Measures the shop end to end over real HTTP on loopback: shoppers of many tenants put a
/// product in their basket and check out; every order then goes through the bus (Basket →
/// Ordering → grace period → Catalog → Ordering → Payment → Ordering) to Paid. Reports the
/// orders/s from the first checkout to the last order paid, the checkout API's latency, and
/// each order's time from checkout to Paid.
public enum ShopBenchmark {
    public static func run(_ options: ShopBenchmarkOptions, report: @escaping @Sendable (String) -> Void) async throws {
        var (configuration, logger) = try BenchServer.configuration(directory: options.directory, durability: options.durability)
        configuration.shop.gracePeriod = options.gracePeriod
        let platform = try await openPlatform(configuration, logger: logger)
        var keys: [(TenantID, String)] = []
        for index in 0..<options.tenants {
            let created = try await TenantOnboarding.createTenant(id: "shop-\(index)", name: nil, tenants: platform.store, keys: platform.store)
            let tenant = created.tenant.id
            try await ShopSeed.seed(
                ShopSettings(tenant: tenant, name: "Shop \(index)"),
                catalog: [CatalogItem(id: "widget", name: "Widget", description: "", price: 1_000, stock: 1_000_000_000)],
                in: platform.shop.database
            )
            keys.append((tenant, created.secret))
        }
        let tenantKeys = keys
        let (port, server) = try await BenchServer.serve(platform, configuration, logger: logger)
        defer { server.cancel() }
        report("bespoke bench shop: durability \(options.durability.rawValue), \(options.orders) orders, \(options.tenants) tenants, "
            + "\(options.shoppers) shoppers at once, grace period \(options.gracePeriod)")

        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.shoppers)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let base = "http://127.0.0.1:\(port)"
        let checkoutBody = #"{"address":{"street":"1 Main","city":"Oslo","zipCode":"0150","country":"NO"},"cardHolderName":"Bench","cardNumber":"4111111111111111"}"#

        let checkouts = LatencyRecorder()
        let next = OrderNumbers()
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for shopper in 0..<options.shoppers {
                group.addTask {
                    while true {
                        let n = next.take()
                        guard n < options.orders else { return }
                        let (tenant, key) = tenantKeys[n % tenantKeys.count]
                        let buyer = "shopper-\(shopper)"
                        let put = try await Self.call(client, base, .PUT, "/v1/tenants/\(tenant)/shop/basket/items/widget", key: key, buyer: buyer, body: #"{"quantity":1}"#)
                        guard put == 200 else { throw BenchFailure("basket answered \(put)") }
                        let before = monotonicNanos()
                        let status = try await Self.call(client, base, .POST, "/v1/tenants/\(tenant)/shop/basket/checkout", key: key, buyer: buyer, body: checkoutBody)
                        checkouts.record(monotonicNanos() - before)
                        guard status == 202 else { throw BenchFailure("checkout answered \(status)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let placed = ContinuousClock.now - started
        // Wait for every order to be paid.
        let pool = platform.shop.database.pool
        var paid = 0
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            paid = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM orders WHERE status = 'paid'") ?? 0 }
            if paid >= options.orders { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let total = ContinuousClock.now - started
        try await client.shutdown()
        guard paid >= options.orders else { throw BenchFailure("only \(paid) of \(options.orders) orders were paid within 10 minutes") }
        let flow = try await pool.read { db in
            try Double.fetchAll(db, sql: "SELECT (updated_at - created_at) * 1000 FROM orders WHERE status = 'paid' ORDER BY 1")
        }
        func percentile(_ q: Double) -> Double { flow[min(flow.count - 1, Int(Double(flow.count) * q))] }
        let latency = checkouts.percentiles()
        report(String(format: "  checkouts placed in %.2f s (%.0f checkouts/s)", placed.seconds, Double(options.orders) / placed.seconds))
        report(String(format: "  orders checkout → Paid: %.0f orders/s (%d orders in %.2f s)", Double(options.orders) / total.seconds, options.orders, total.seconds))
        report(String(format: "  checkout API latency: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms", latency.p50, latency.p99, latency.p999))
        report(String(format: "  order created → Paid (through the bus): p50 %.1f ms, p99 %.1f ms", percentile(0.5), percentile(0.99)))
    }
}

extension ShopBenchmark {
    static func call(
        _ client: HTTPClient, _ base: String, _ method: HTTPMethod, _ path: String, key: String, buyer: String, body: String
    ) async throws -> Int {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "authorization", value: "Bearer \(key)")
        request.headers.add(name: "bespoke-buyer", value: buyer)
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }
}

/// Hands out order numbers to the shoppers.
final class OrderNumbers: Sendable {
    private let next = Mutex(0)

    func take() -> Int {
        next.withLock { value in
            defer { value += 1 }
            return value
        }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
