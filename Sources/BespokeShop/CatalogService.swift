public import BespokeCore
import Foundation
import GRDB
import Logging

/// The Catalog service: products, prices and stock. It reserves an order's stock when the
/// order awaits validation, keeps it when the order is paid and gives it back when the order
/// is cancelled; a price change is announced to the Basket.
public struct CatalogService: Sendable {
    let database: ShopDatabase
    let logger: Logger

    // MARK: Queries and commands

    public func items(tenant: TenantID) async throws -> [CatalogItem] {
        try await database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM catalog_items WHERE tenant_id = ? ORDER BY name, id", arguments: [tenant.rawValue])
                .map(Self.item)
        }
    }

    /// - Throws: ``BespokeError`` `not_found`, also for another tenant's product.
    public func item(tenant: TenantID, id: String) async throws -> CatalogItem {
        let found = try await database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM catalog_items WHERE tenant_id = ? AND id = ?", arguments: [tenant.rawValue, id])
                .map(Self.item)
        }
        guard let found else { throw BespokeError.notFound("product") }
        return found
    }

    /// Adds a product. - Throws: ``BespokeError`` `invalid_request`, `conflict` for a taken id.
    public func add(tenant: TenantID, _ item: CatalogItem) async throws -> CatalogItem {
        try Self.validate(item)
        return try await database.pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM catalog_items WHERE tenant_id = ? AND id = ?", arguments: [tenant.rawValue, item.id]) != nil {
                throw BespokeError(.conflict, "product '\(item.id)' already exists")
            }
            try Self.insert(db, tenant: tenant, item)
            return item
        }
    }

    /// Changes a price and announces it (`ProductPriceChanged`) in the same transaction.
    public func setPrice(tenant: TenantID, id: String, price: Int, outbox: @Sendable () -> Void) async throws -> CatalogItem {
        guard (0...100_000_000).contains(price) else { throw BespokeError(.invalidRequest, "price must be 0-100000000 cents") }
        let item = try await database.pool.write { db -> CatalogItem in
            guard var item = try Row.fetchOne(
                db, sql: "SELECT * FROM catalog_items WHERE tenant_id = ? AND id = ?", arguments: [tenant.rawValue, id]
            ).map(Self.item) else { throw BespokeError.notFound("product") }
            guard item.price != price else { return item }
            let old = item.price
            item.price = price
            try db.execute(sql: "UPDATE catalog_items SET price = ? WHERE tenant_id = ? AND id = ?", arguments: [price, tenant.rawValue, id])
            try Outbox.append(
                db, tenant: tenant, .productPriceChanged, by: .catalog, key: id,
                data: ProductPriceChanged(productId: id, newPrice: price, oldPrice: old)
            )
            return item
        }
        outbox()
        return item
    }

    /// Sets the units available. - Throws: ``BespokeError`` `not_found`, `invalid_request`.
    public func setStock(tenant: TenantID, id: String, stock: Int) async throws -> CatalogItem {
        guard (0...1_000_000_000).contains(stock) else { throw BespokeError(.invalidRequest, "stock must be 0-1000000000") }
        return try await database.pool.write { db in
            try db.execute(sql: "UPDATE catalog_items SET stock = ? WHERE tenant_id = ? AND id = ?", arguments: [stock, tenant.rawValue, id])
            guard db.changesCount > 0 else { throw BespokeError.notFound("product") }
            return try Row.fetchOne(db, sql: "SELECT * FROM catalog_items WHERE tenant_id = ? AND id = ?", arguments: [tenant.rawValue, id])
                .map(Self.item)!
        }
    }

    // MARK: Events

    /// Applies an event, inside the inbox transaction.
    func apply(_ event: CloudEvent, _ type: ShopEventType, tenant: TenantID, _ db: Database) throws {
        switch type {
        case .orderStatusChangedToAwaitingValidation:
            let order = try event.decodeData(OrderStatusChanged.self)
            try reserve(order.orderId, items: order.orderStockItems ?? [], tenant: tenant, db)
        case .orderStatusChangedToPaid:
            let order = try event.decodeData(OrderStatusChanged.self)
            try db.execute(
                sql: "UPDATE stock_reservations SET state = 'sold', updated_at = ? WHERE tenant_id = ? AND order_id = ? AND state = 'reserved'",
                arguments: [Date().timeIntervalSince1970, tenant.rawValue, order.orderId]
            )
        case .orderStatusChangedToCancelled:
            let order = try event.decodeData(OrderStatusChanged.self)
            try release(order.orderId, tenant: tenant, db)
        default:
            return
        }
    }

    /// Reserves every line's units, or none: all in stock confirms the order, else it is rejected.
    private func reserve(_ orderID: String, items: [StockItem], tenant: TenantID, _ db: Database) throws {
        let existing = try String.fetchOne(
            db, sql: "SELECT state FROM stock_reservations WHERE tenant_id = ? AND order_id = ?", arguments: [tenant.rawValue, orderID]
        )
        guard existing == nil else { return }
        var units: [String: Int] = [:]
        for item in items { units[item.productId, default: 0] += item.units }
        var lacking: Set<String> = []
        for (product, wanted) in units {
            let stock = try Int.fetchOne(
                db, sql: "SELECT stock FROM catalog_items WHERE tenant_id = ? AND id = ?", arguments: [tenant.rawValue, product]
            )
            if (stock ?? 0) < wanted { lacking.insert(product) }
        }
        let now = Date().timeIntervalSince1970
        if lacking.isEmpty {
            for (product, wanted) in units {
                try db.execute(
                    sql: "UPDATE catalog_items SET stock = stock - ? WHERE tenant_id = ? AND id = ?",
                    arguments: [wanted, tenant.rawValue, product]
                )
            }
            try db.execute(
                sql: "INSERT INTO stock_reservations (tenant_id, order_id, items, state, updated_at) VALUES (?, ?, ?, 'reserved', ?)",
                arguments: [tenant.rawValue, orderID, try JSONEncoder().encode(items), now]
            )
            try Outbox.append(db, tenant: tenant, .orderStockConfirmed, by: .catalog, key: orderID, data: OrderReference(orderId: orderID))
        } else {
            try db.execute(
                sql: "INSERT INTO stock_reservations (tenant_id, order_id, items, state, updated_at) VALUES (?, ?, ?, 'rejected', ?)",
                arguments: [tenant.rawValue, orderID, try JSONEncoder().encode(items), now]
            )
            let confirmed = units.keys.sorted().map { OrderStockRejected.ConfirmedItem(productId: $0, hasStock: !lacking.contains($0)) }
            try Outbox.append(
                db, tenant: tenant, .orderStockRejected, by: .catalog, key: orderID,
                data: OrderStockRejected(orderId: orderID, orderStockItems: confirmed)
            )
        }
    }

    /// Gives a cancelled order's reserved units back.
    private func release(_ orderID: String, tenant: TenantID, _ db: Database) throws {
        guard let row = try Row.fetchOne(
            db, sql: "SELECT items, state FROM stock_reservations WHERE tenant_id = ? AND order_id = ?", arguments: [tenant.rawValue, orderID]
        ) else { return }
        let state: String = row["state"]
        if state == "sold" {
            logger.warning("a sold order was cancelled; its stock stays sold", metadata: ["tenant": "\(tenant)", "order": "\(orderID)"])
        }
        guard state == "reserved" else { return }
        let items = try JSONDecoder().decode([StockItem].self, from: row["items"] as Data)
        for item in items {
            try db.execute(
                sql: "UPDATE catalog_items SET stock = stock + ? WHERE tenant_id = ? AND id = ?",
                arguments: [item.units, tenant.rawValue, item.productId]
            )
        }
        try db.execute(
            sql: "UPDATE stock_reservations SET state = 'released', updated_at = ? WHERE tenant_id = ? AND order_id = ?",
            arguments: [Date().timeIntervalSince1970, tenant.rawValue, orderID]
        )
    }

    // MARK: Rows

    static func insert(_ db: Database, tenant: TenantID, _ item: CatalogItem) throws {
        try db.execute(
            sql: "INSERT INTO catalog_items (tenant_id, id, name, description, price, stock) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [tenant.rawValue, item.id, item.name, item.description, item.price, item.stock]
        )
    }

    static func item(_ row: Row) -> CatalogItem {
        CatalogItem(id: row["id"], name: row["name"], description: row["description"], price: row["price"], stock: row["stock"])
    }

    static func validate(_ item: CatalogItem) throws(BespokeError) {
        guard isValidID(item.id) else {
            throw BespokeError(.invalidRequest, "id must be 1-64 characters of letters, digits, '-' and '_'")
        }
        guard !item.name.isEmpty, item.name.count <= 200 else { throw BespokeError(.invalidRequest, "name must be 1-200 characters") }
        guard item.description.count <= 2000 else { throw BespokeError(.invalidRequest, "description must be at most 2000 characters") }
        guard (0...100_000_000).contains(item.price) else { throw BespokeError(.invalidRequest, "price must be 0-100000000 cents") }
        guard (0...1_000_000_000).contains(item.stock) else { throw BespokeError(.invalidRequest, "stock must be 0-1000000000") }
    }

    /// Product ids: 1-64 characters of letters, digits, '-' and '_'.
    public static func isValidID(_ id: String) -> Bool {
        let utf8 = id.utf8
        return !utf8.isEmpty && utf8.count <= 64
            && utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F
            }
    }
}
