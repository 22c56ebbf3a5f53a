public import BespokeCore
import Foundation
import GRDB

/// The Basket service: each buyer's basket, and the checkout that turns it into an order
/// request (`UserCheckoutAccepted`) in one transaction with emptying it.
public struct BasketService: Sendable {
    let database: ShopDatabase
    let configuration: ShopConfiguration

    public func items(tenant: TenantID, buyer: String) async throws -> [BasketItem] {
        try await database.pool.read { db in try Self.items(db, tenant: tenant, buyer: buyer) }
    }

    /// Puts `quantity` units of a product in the basket (0 removes it), at the price given.
    /// - Throws: ``BespokeError`` `invalid_request` past the basket limits.
    public func set(tenant: TenantID, buyer: String, product: CatalogItem, quantity: Int) async throws -> [BasketItem] {
        guard (0...configuration.maxUnitsPerLine).contains(quantity) else {
            throw BespokeError(.invalidRequest, "quantity must be 0-\(configuration.maxUnitsPerLine)")
        }
        let maxLines = configuration.maxBasketLines
        return try await database.pool.write { db in
            if quantity == 0 {
                try db.execute(
                    sql: "DELETE FROM basket_items WHERE tenant_id = ? AND buyer = ? AND product_id = ?",
                    arguments: [tenant.rawValue, buyer, product.id]
                )
            } else {
                let lines = try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM basket_items WHERE tenant_id = ? AND buyer = ? AND product_id != ?",
                    arguments: [tenant.rawValue, buyer, product.id]
                ) ?? 0
                guard lines < maxLines else { throw BespokeError(.invalidRequest, "a basket holds at most \(maxLines) products") }
                try db.execute(
                    sql: """
                        INSERT INTO basket_items (tenant_id, buyer, product_id, product_name, unit_price, quantity)
                        VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT (tenant_id, buyer, product_id) DO UPDATE SET quantity = excluded.quantity
                        """,
                    arguments: [tenant.rawValue, buyer, product.id, product.name, product.price, quantity]
                )
            }
            return try Self.items(db, tenant: tenant, buyer: buyer)
        }
    }

    /// Takes a product out of the basket. - Throws: ``BespokeError`` `not_found` when it is not in it.
    public func remove(tenant: TenantID, buyer: String, productID: String) async throws -> [BasketItem] {
        try await database.pool.write { db in
            try db.execute(
                sql: "DELETE FROM basket_items WHERE tenant_id = ? AND buyer = ? AND product_id = ?",
                arguments: [tenant.rawValue, buyer, productID]
            )
            guard db.changesCount > 0 else { throw BespokeError.notFound("basket item") }
            return try Self.items(db, tenant: tenant, buyer: buyer)
        }
    }

    /// Checks out the buyer's basket: empties it and raises `UserCheckoutAccepted`, together.
    /// Checking out again with the same request id answers the same order id.
    /// - Returns: the id the order will have.
    /// - Throws: ``BespokeError`` `invalid_request` for an empty basket or bad details.
    public func checkout(tenant: TenantID, buyer: String, _ request: CheckoutRequest, outbox: @Sendable () -> Void) async throws -> String {
        try Self.validate(request)
        let orderID = try await database.pool.write { db -> String in
            if let existing = try String.fetchOne(
                db, sql: "SELECT order_id FROM basket_checkouts WHERE tenant_id = ? AND request_id = ? AND buyer = ?",
                arguments: [tenant.rawValue, request.requestId, buyer]
            ) {
                return existing
            }
            let items = try Self.items(db, tenant: tenant, buyer: buyer)
            guard !items.isEmpty else { throw BespokeError(.invalidRequest, "the basket is empty") }
            let orderID = UUID().uuidString.lowercased()
            try db.execute(sql: "DELETE FROM basket_items WHERE tenant_id = ? AND buyer = ?", arguments: [tenant.rawValue, buyer])
            do {
                try db.execute(
                    sql: "INSERT INTO basket_checkouts (tenant_id, request_id, buyer, order_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [tenant.rawValue, request.requestId, buyer, orderID, Date().timeIntervalSince1970]
                )
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw BespokeError(.conflict, "request id '\(request.requestId)' was used by another buyer")
            }
            let checkout = UserCheckoutAccepted(
                userId: buyer, requestId: orderID, address: request.address, cardHolderName: request.cardHolderName,
                cardNumberLast4: String(request.cardNumber.filter(\.isASCIIDigit).suffix(4)),
                items: items.map { OrderLineData(productId: $0.productId, productName: $0.productName, unitPrice: $0.unitPrice, units: $0.quantity) }
            )
            try Outbox.append(db, tenant: tenant, .userCheckoutAccepted, by: .basket, key: orderID, data: checkout)
            return orderID
        }
        outbox()
        return orderID
    }

    // MARK: Events

    func apply(_ event: CloudEvent, _ type: ShopEventType, tenant: TenantID, _ db: Database) throws {
        switch type {
        case .orderStarted:
            let started = try event.decodeData(OrderStarted.self)
            try db.execute(
                sql: "UPDATE basket_checkouts SET started_at = ? WHERE tenant_id = ? AND order_id = ? AND started_at IS NULL",
                arguments: [Date().timeIntervalSince1970, tenant.rawValue, started.orderId]
            )
        case .productPriceChanged:
            let change = try event.decodeData(ProductPriceChanged.self)
            try db.execute(
                sql: "UPDATE basket_items SET old_unit_price = unit_price, unit_price = ? WHERE tenant_id = ? AND product_id = ? AND unit_price != ?",
                arguments: [change.newPrice, tenant.rawValue, change.productId, change.newPrice]
            )
        default:
            return
        }
    }

    static func items(_ db: Database, tenant: TenantID, buyer: String) throws -> [BasketItem] {
        try Row.fetchAll(
            db, sql: "SELECT * FROM basket_items WHERE tenant_id = ? AND buyer = ? ORDER BY product_name, product_id",
            arguments: [tenant.rawValue, buyer]
        ).map {
            BasketItem(
                productId: $0["product_id"], productName: $0["product_name"], unitPrice: $0["unit_price"],
                oldUnitPrice: $0["old_unit_price"], quantity: $0["quantity"]
            )
        }
    }

    static func validate(_ request: CheckoutRequest) throws(BespokeError) {
        guard !request.requestId.isEmpty, request.requestId.utf8.count <= 100 else {
            throw BespokeError(.invalidRequest, "requestId must be 1-100 characters")
        }
        let address = request.address
        for (name, value) in [("street", address.street), ("city", address.city), ("zipCode", address.zipCode), ("country", address.country),
                              ("cardHolderName", request.cardHolderName)] {
            guard !value.trimmingCharacters(in: .whitespaces).isEmpty, value.count <= 200 else {
                throw BespokeError(.invalidRequest, "\(name) must be 1-200 characters")
            }
        }
        let digits = request.cardNumber.filter { $0 != " " && $0 != "-" }
        guard (12...19).contains(digits.count), digits.allSatisfy(\.isASCIIDigit) else {
            throw BespokeError(.invalidRequest, "cardNumber must be 12-19 digits")
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
