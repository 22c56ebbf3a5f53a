public import BespokeCore
import Foundation
import GRDB

/// The Basket service: each buyer's basket, and the checkout that turns it into an order
/// request (`UserCheckoutAccepted`) in one transaction with emptying it.
///
/// Three synchronous extension points are asked on the way (``ShopExtensionPoints``): the unit
/// price when a product goes into the basket, a basket check and the order validation before
/// checkout. The shop does not know whether any tenant has an extension there.
public struct BasketService: Sendable {
    let database: ShopDatabase
    let configuration: ShopConfiguration
    let extensions: any ExtensionPointCaller

    public func items(tenant: TenantID, buyer: String) async throws -> [BasketItem] {
        try await database.pool.read { db in try Self.items(db, tenant: tenant, buyer: buyer) }
    }

    /// Puts `quantity` units of a product in the basket (0 removes it), at the unit price the
    /// tenant's price extension quotes, or the list price.
    /// - Throws: ``BespokeError`` `invalid_request` past the basket limits; `extension_failed`.
    public func set(
        tenant: TenantID, buyer: String, product: CatalogItem, quantity: Int, calls: ExtensionCallContext = .init(correlationID: "shop")
    ) async throws -> [BasketItem] {
        guard (0...configuration.maxUnitsPerLine).contains(quantity) else {
            throw BespokeError(.invalidRequest, "quantity must be 0-\(configuration.maxUnitsPerLine)")
        }
        var unitPrice = product.price
        if quantity > 0 {
            let request = JSONValue.object([
                "buyer": .string(buyer), "productId": .string(product.id), "productName": .string(product.name),
                "listPrice": .number(Double(product.price)), "units": .number(Double(quantity)),
            ])
            let fallback = JSONValue.object(["unitPrice": .number(Double(product.price))])
            if case .object(let answer)? = try await extensions.call(
                ShopExtensionPoints.price, tenant: tenant, request: request, fallback: fallback, context: calls
            ), case .number(let quoted)? = answer["unitPrice"] {
                unitPrice = Int(quoted)
            }
        }
        let maxLines = configuration.maxBasketLines
        let price = unitPrice
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
                        ON CONFLICT (tenant_id, buyer, product_id) DO UPDATE SET quantity = excluded.quantity,
                            unit_price = excluded.unit_price
                        """,
                    arguments: [tenant.rawValue, buyer, product.id, product.name, price, quantity]
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

    /// Checks out the buyer's basket: asks the tenant's basket check and order validation
    /// extensions, then empties the basket and raises `UserCheckoutAccepted`, together.
    /// Checking out again with the same request id answers the same order id.
    /// - Returns: the id the order will have.
    /// - Throws: ``BespokeError`` `invalid_request` for an empty basket or bad details;
    ///   `extension_rejected` when an extension refuses; `extension_failed`; `conflict` when the
    ///   basket changed while the extensions were asked.
    public func checkout(
        tenant: TenantID, buyer: String, _ request: CheckoutRequest, calls: ExtensionCallContext = .init(correlationID: "shop"),
        outbox: @Sendable () -> Void
    ) async throws -> String {
        try Self.validate(request)
        let (existing, checked) = try await database.pool.read { db in
            (
                try String.fetchOne(
                    db, sql: "SELECT order_id FROM basket_checkouts WHERE tenant_id = ? AND request_id = ? AND buyer = ?",
                    arguments: [tenant.rawValue, request.requestId, buyer]
                ),
                try Self.items(db, tenant: tenant, buyer: buyer)
            )
        }
        if let existing { return existing }
        guard !checked.isEmpty else { throw BespokeError(.invalidRequest, "the basket is empty") }
        try await askExtensions(tenant: tenant, buyer: buyer, items: checked, address: request.address, calls: calls)
        let orderID = try await database.pool.write { db -> String in
            if let existing = try String.fetchOne(
                db, sql: "SELECT order_id FROM basket_checkouts WHERE tenant_id = ? AND request_id = ? AND buyer = ?",
                arguments: [tenant.rawValue, request.requestId, buyer]
            ) {
                return existing
            }
            let items = try Self.items(db, tenant: tenant, buyer: buyer)
            guard !items.isEmpty else { throw BespokeError(.invalidRequest, "the basket is empty") }
            guard items == checked else { throw BespokeError(.conflict, "the basket changed during checkout; check out again") }
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

    /// The basket check, then the order validation; either may refuse the checkout.
    private func askExtensions(tenant: TenantID, buyer: String, items: [BasketItem], address: Address, calls: ExtensionCallContext) async throws {
        let lines = JSONValue.array(
            items.map {
                .object([
                    "productId": .string($0.productId), "productName": .string($0.productName), "unitPrice": .number(Double($0.unitPrice)),
                    "units": .number(Double($0.quantity)),
                ])
            }
        )
        let total = JSONValue.number(Double(items.reduce(0) { $0 + $1.unitPrice * $1.quantity }))
        let basket = JSONValue.object(["buyer": .string(buyer), "items": lines, "total": total])
        if case .object(let answer)? = try await extensions.call(
            ShopExtensionPoints.basketCheck, tenant: tenant, request: basket, fallback: .object(["ok": .bool(true)]), context: calls
        ), answer["ok"] == .bool(false) {
            throw BespokeError(.extensionRejected, Self.text(answer["message"]) ?? "the shop refused this basket")
        }
        let order = JSONValue.object([
            "buyer": .string(buyer), "items": lines, "total": total,
            "address": .object([
                "street": .string(address.street), "city": .string(address.city), "zipCode": .string(address.zipCode),
                "country": .string(address.country),
            ]),
        ])
        if case .object(let answer)? = try await extensions.call(
            ShopExtensionPoints.orderValidation, tenant: tenant, request: order, fallback: .object(["valid": .bool(true)]), context: calls
        ), answer["valid"] == .bool(false) {
            throw BespokeError(.extensionRejected, Self.text(answer["reason"]) ?? "the shop refused this order")
        }
    }

    /// An extension's message, shortened to what a page shows.
    static func text(_ value: JSONValue?) -> String? {
        guard case .string(let text)? = value, !text.isEmpty else { return nil }
        return String(text.prefix(300))
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
