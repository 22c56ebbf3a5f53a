import BespokeAPI
import BespokeCore
import BespokeServer
import BespokeShop
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// A platform with the shop over a temporary data directory, and two tenants with shops:
/// acme (mug, hoodie) and globex (lamp).
struct ShopFixture {
    let configuration: BespokeConfiguration
    let platform: BespokePlatform
    let acmeKey: String
    let globexKey: String
    var shop: Shop { platform.shop }

    static let acme = TenantID(trusted: "acme")
    static let globex = TenantID(trusted: "globex")

    static func make(gracePeriod: Duration = .milliseconds(200), configure: (inout BespokeConfiguration) -> Void = { _ in }) async throws -> ShopFixture {
        var configuration = BespokeConfiguration()
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-shop-\(UUID().uuidString)").path
        configuration.durability = .normal
        configuration.identity.bcryptCost = 4
        configuration.port = 0
        configuration.adminToken = "test-admin-token-0123456789"
        configuration.shop.gracePeriod = gracePeriod
        configuration.shop.gracePeriodCheckInterval = .milliseconds(100)
        configuration.shop.outboxPollInterval = .milliseconds(200)
        configuration.customization.outbound.allowLoopback = true
        configure(&configuration)
        let platform = try await openPlatform(configuration, logger: quietLogger)
        let acme = try await TenantOnboarding.createTenant(id: "acme", name: "Acme", tenants: platform.store, keys: platform.store)
        let globex = try await TenantOnboarding.createTenant(id: "globex", name: "Globex", tenants: platform.store, keys: platform.store)
        try await ShopSeed.seed(
            ShopSettings(tenant: Self.acme, name: "Acme Outfitters", colour: "#aa3300"),
            catalog: [
                CatalogItem(id: "mug", name: "Acme Mug", description: "A mug.", price: 1_000, stock: 10),
                CatalogItem(id: "hoodie", name: "Acme Hoodie", description: "A hoodie.", price: 5_000, stock: 5),
            ],
            in: platform.shop.database
        )
        try await ShopSeed.seed(
            ShopSettings(tenant: Self.globex, name: "Globex Lamps", colour: "#0055aa"),
            catalog: [CatalogItem(id: "lamp", name: "Globex Lamp", description: "A lamp.", price: 3_000, stock: 3)],
            in: platform.shop.database
        )
        return ShopFixture(configuration: configuration, platform: platform, acmeKey: acme.secret, globexKey: globex.secret)
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "shop-tests")
        logger.logLevel = .critical
        return logger
    }

    func key(_ tenant: TenantID) -> String { tenant == Self.acme ? acmeKey : globexKey }

    func test<T: Sendable>(_ framework: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let app = try await buildApplication(configuration, platform: platform, logger: Self.quietLogger)
        return try await app.test(framework, body)
    }

    /// Rows of the shop's tables, to compare before and after.
    func snapshot() async throws -> [String: [String]] {
        try await shop.database.pool.read { db in
            var tables: [String: [String]] = [:]
            for table in ["orders", "order_lines", "catalog_items", "stock_reservations", "basket_items", "basket_checkouts", "payments", "outbox"] {
                tables[table] = try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1, 2").map { "\($0)" }
            }
            return tables
        }
    }
}

/// Waits until `condition` holds; fails the test after `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

extension TestClientProtocol {
    /// A call to the shop's API of `tenant`, with a key and optionally a buyer.
    func shop(
        _ method: HTTPRequest.Method, _ tenant: TenantID, _ path: String, key: String?, buyer: String? = nil, json: String? = nil
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let key { headers[.authorization] = "Bearer \(key)" }
        if let buyer { headers[HTTPFields.Element.Name("Bespoke-Buyer")!] = buyer }
        if json != nil { headers[.contentType] = "application/json" }
        let uri = "/v1/tenants/\(tenant)/shop" + (path.isEmpty ? "" : "/" + path)
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// Fills the buyer's basket and checks out. - Returns: the order id.
    func placeOrder(_ tenant: TenantID, key: String, buyer: String, _ lines: [(String, Int)]) async throws -> String {
        for (product, quantity) in lines {
            let put = try await shop(.put, tenant, "basket/items/\(product)", key: key, buyer: buyer, json: #"{"quantity":\#(quantity)}"#)
            #expect(put.status == .ok, "\(put.text)")
        }
        let checkout = try await shop(.post, tenant, "basket/checkout", key: key, buyer: buyer, json: Self.checkoutBody)
        #expect(checkout.status == .accepted, "\(checkout.text)")
        return try #require(checkout.json["orderId"] as? String)
    }

    static var checkoutBody: String {
        #"{"address":{"street":"1 Main St","city":"Oslo","zipCode":"0150","country":"NO"},"cardHolderName":"A Buyer","cardNumber":"4111 1111 1111 1111"}"#
    }

    /// Waits until the order exists with `status` (an eShop status name). - Returns: the order.
    @discardableResult
    func waitForOrder(_ tenant: TenantID, key: String, buyer: String, _ id: String, status: String, timeout: Duration = .seconds(10)) async throws
        -> [String: Any]
    {
        var last: [String: Any] = [:]
        do {
            try await eventually("order \(id) is \(status) (last seen: \(last["status"] ?? "absent"))", timeout: timeout) {
                last = try await shop(.get, tenant, "orders/\(id)", key: key, buyer: buyer).json
                return last["status"] as? String == status
            }
        } catch {
            Issue.record("last seen: \(last)")
            throw error
        }
        return last
    }

    func stock(_ tenant: TenantID, key: String, _ product: String) async throws -> Int? {
        try await shop(.get, tenant, "catalog/items/\(product)", key: key).json["stock"] as? Int
    }
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }

    var text: String { String(buffer: body) }
}
