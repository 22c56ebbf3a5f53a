public import BespokeCore
import Foundation
import GRDB
import Logging

/// The Ordering service: the order aggregate and its state machine. Every transition and the
/// status event announcing it commit together; an event that finds the order in another state
/// than its transition expects changes nothing (it was already applied, or the order moved on,
/// e.g. cancelled meanwhile).
public struct OrderingService: Sendable {
    let database: ShopDatabase
    let logger: Logger

    // MARK: Queries

    /// The buyer's orders, newest first.
    public func orders(tenant: TenantID, buyer: String, limit: Int = 100) async throws -> [Order] {
        try await database.pool.read { db in
            try Self.orders(db, where: "tenant_id = ? AND buyer = ?", [tenant.rawValue, buyer], limit: limit)
        }
    }

    /// The tenant's orders, newest first, optionally of one status (for the shop's admins).
    public func allOrders(tenant: TenantID, status: OrderStatus? = nil, limit: Int = 100) async throws -> [Order] {
        try await database.pool.read { db in
            if let status {
                return try Self.orders(db, where: "tenant_id = ? AND status = ?", [tenant.rawValue, status.rawValue], limit: limit)
            }
            return try Self.orders(db, where: "tenant_id = ?", [tenant.rawValue], limit: limit)
        }
    }

    /// An order; with `buyer`, only if it is theirs.
    /// - Throws: ``BespokeError`` `not_found`, also for another tenant's or buyer's order.
    public func order(tenant: TenantID, id: String, buyer: String? = nil) async throws -> Order {
        let found = try await database.pool.read { db in try Self.order(db, tenant: tenant, id: id) }
        guard let found, buyer == nil || found.buyer == buyer else { throw BespokeError.notFound("order") }
        return found
    }

    // MARK: Commands

    /// Cancels an order that is not paid yet; with `buyer`, only the buyer's own.
    /// - Throws: ``BespokeError`` `not_found`, `conflict` once paid, shipped or cancelled.
    public func cancel(tenant: TenantID, id: String, buyer: String?, outbox: @Sendable () -> Void) async throws -> Order {
        let order = try await database.pool.write { db -> Order in
            guard let order = try Self.order(db, tenant: tenant, id: id), buyer == nil || order.buyer == buyer else {
                throw BespokeError.notFound("order")
            }
            guard order.status.isCancellable else {
                throw BespokeError(.conflict, "an order that is \(order.status.eventName) cannot be cancelled")
            }
            return try Self.transition(db, order, to: .cancelled, reason: buyer == nil ? "shop" : "buyer")
        }
        outbox()
        return order
    }

    /// Ships a paid order. - Throws: ``BespokeError`` `not_found`, `conflict` unless paid.
    public func ship(tenant: TenantID, id: String, outbox: @Sendable () -> Void) async throws -> Order {
        let order = try await database.pool.write { db -> Order in
            guard let order = try Self.order(db, tenant: tenant, id: id) else { throw BespokeError.notFound("order") }
            guard order.status == .paid else { throw BespokeError(.conflict, "only a Paid order can be shipped; this one is \(order.status.eventName)") }
            return try Self.transition(db, order, to: .shipped, reason: nil)
        }
        outbox()
        return order
    }

    /// Submitted orders whose grace period has ended: marks each and raises
    /// `GracePeriodConfirmed`, in one transaction. - Returns: how many.
    func confirmGracePeriods(endedBefore cutoff: Date, limit: Int = 500) async throws -> Int {
        try await database.pool.write { db in
            let due = try Row.fetchAll(
                db,
                sql: "SELECT tenant_id, id FROM orders WHERE status = 'submitted' AND grace_confirmed_at IS NULL AND created_at <= ? ORDER BY created_at LIMIT ?",
                arguments: [cutoff.timeIntervalSince1970, limit]
            )
            let now = Date().timeIntervalSince1970
            for row in due {
                let tenant = TenantID(trusted: row["tenant_id"])
                let id: String = row["id"]
                try db.execute(
                    sql: "UPDATE orders SET grace_confirmed_at = ? WHERE tenant_id = ? AND id = ?", arguments: [now, tenant.rawValue, id]
                )
                try Outbox.append(db, tenant: tenant, .gracePeriodConfirmed, by: .ordering, key: id, data: OrderReference(orderId: id))
            }
            return due.count
        }
    }

    /// When the oldest order still in its grace period was submitted.
    func oldestInGracePeriod() async throws -> Date? {
        try await database.pool.read { db in
            try Double.fetchOne(db, sql: "SELECT min(created_at) FROM orders WHERE status = 'submitted' AND grace_confirmed_at IS NULL")
                .map { Date(timeIntervalSince1970: $0) }
        }
    }

    // MARK: Events

    /// Applies an event, inside the inbox transaction. - Returns: whether an order was created.
    @discardableResult
    func apply(_ event: CloudEvent, _ type: ShopEventType, tenant: TenantID, _ db: Database) throws -> Bool {
        switch type {
        case .userCheckoutAccepted:
            return try create(try event.decodeData(UserCheckoutAccepted.self), tenant: tenant, traceparent: event.traceparent, db)
        case .gracePeriodConfirmed:
            try move(event, tenant: tenant, from: .submitted, to: .awaitingValidation, db)
        case .orderStockConfirmed:
            try move(event, tenant: tenant, from: .awaitingValidation, to: .stockConfirmed, db)
        case .orderStockRejected:
            try move(event, tenant: tenant, from: .awaitingValidation, to: .cancelled, reason: "stock", db)
        case .orderPaymentSucceeded:
            try move(event, tenant: tenant, from: .stockConfirmed, to: .paid, db)
        case .orderPaymentFailed:
            try move(event, tenant: tenant, from: .stockConfirmed, to: .cancelled, reason: "payment", db)
        default:
            break
        }
        return false
    }

    private func create(_ checkout: UserCheckoutAccepted, tenant: TenantID, traceparent: String?, _ db: Database) throws -> Bool {
        guard try Self.order(db, tenant: tenant, id: checkout.requestId) == nil else { return false }
        let now = Date().timeIntervalSince1970
        let total = checkout.items.reduce(0) { $0 + $1.unitPrice * $1.units }
        try db.execute(
            sql: """
                INSERT INTO orders (tenant_id, id, buyer, status, street, city, zip_code, country, card_holder, card_last4, total,
                                    created_at, updated_at)
                VALUES (?, ?, ?, 'submitted', ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                tenant.rawValue, checkout.requestId, checkout.userId, checkout.address.street, checkout.address.city,
                checkout.address.zipCode, checkout.address.country, checkout.cardHolderName, checkout.cardNumberLast4, total, now, now,
            ]
        )
        for (line, item) in checkout.items.enumerated() {
            try db.execute(
                sql: "INSERT INTO order_lines (tenant_id, order_id, line, product_id, product_name, unit_price, units) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [tenant.rawValue, checkout.requestId, line, item.productId, item.productName, item.unitPrice, item.units]
            )
        }
        try Outbox.append(
            db, tenant: tenant, .orderStarted, by: .ordering, key: checkout.requestId,
            data: OrderStarted(userId: checkout.userId, orderId: checkout.requestId), traceparent: traceparent
        )
        let order = try Self.order(db, tenant: tenant, id: checkout.requestId)!
        try Self.announce(db, order, traceparent: traceparent)
        return true
    }

    private func move(_ event: CloudEvent, tenant: TenantID, from: OrderStatus, to: OrderStatus, reason: String? = nil, _ db: Database) throws {
        let id = try event.decodeData(OrderReference.self).orderId
        guard let order = try Self.order(db, tenant: tenant, id: id) else {
            logger.warning("an event names an order that does not exist", metadata: ["tenant": "\(tenant)", "order": "\(id)", "type": "\(event.type)"])
            return
        }
        guard order.status == from else {
            logger.debug(
                "order not moved: it is no longer where the event expects",
                metadata: ["tenant": "\(tenant)", "order": "\(id)", "status": "\(order.status.rawValue)", "type": "\(event.type)"]
            )
            return
        }
        _ = try Self.transition(db, order, to: to, reason: reason, traceparent: event.traceparent)
    }

    /// Moves an order and announces its new status in the same transaction.
    static func transition(_ db: Database, _ order: Order, to status: OrderStatus, reason: String?, traceparent: String? = nil) throws -> Order {
        var order = order
        order.status = status
        order.updatedAt = Date()
        order.cancelReason = status == .cancelled ? reason : order.cancelReason
        try db.execute(
            sql: "UPDATE orders SET status = ?, updated_at = ?, cancel_reason = ? WHERE tenant_id = ? AND id = ?",
            arguments: [status.rawValue, order.updatedAt.timeIntervalSince1970, order.cancelReason, order.tenant.rawValue, order.id]
        )
        try announce(db, order, traceparent: traceparent)
        return order
    }

    /// Writes `OrderStatusChangedTo<status>` to the outbox; the Catalog gets the stock items
    /// with the statuses it acts on.
    static func announce(_ db: Database, _ order: Order, traceparent: String?) throws {
        let withItems = order.status == .awaitingValidation || order.status == .paid
        let data = OrderStatusChanged(
            orderId: order.id, orderStatus: order.status.eventName, buyerName: order.buyer,
            orderStockItems: withItems ? order.lines.map { StockItem(productId: $0.productId, units: $0.units) } : nil,
            total: order.total
        )
        try Outbox.append(
            db, tenant: order.tenant, order.status.changedEvent, by: .ordering, key: order.id, data: data,
            traceparent: traceparent
        )
    }

    // MARK: Rows

    static func order(_ db: Database, tenant: TenantID, id: String) throws -> Order? {
        try orders(db, where: "tenant_id = ? AND id = ?", [tenant.rawValue, id], limit: 1).first
    }

    static func orders(_ db: Database, where condition: String, _ arguments: [any DatabaseValueConvertible], limit: Int) throws -> [Order] {
        let rows = try Row.fetchAll(
            db, sql: "SELECT * FROM orders WHERE \(condition) ORDER BY created_at DESC, id LIMIT ?",
            arguments: StatementArguments(arguments + [limit])
        )
        guard !rows.isEmpty else { return [] }
        let tenant: String = rows[0]["tenant_id"]
        let ids = rows.map { $0["id"] as String }
        var lines: [String: [OrderLineData]] = [:]
        for row in try Row.fetchAll(
            db,
            sql: "SELECT * FROM order_lines WHERE tenant_id = ? AND order_id IN (\(ids.map { _ in "?" }.joined(separator: ","))) ORDER BY line",
            arguments: StatementArguments([tenant] + ids)
        ) {
            lines[row["order_id"], default: []].append(
                OrderLineData(productId: row["product_id"], productName: row["product_name"], unitPrice: row["unit_price"], units: row["units"])
            )
        }
        return rows.map { row in
            Order(
                tenant: TenantID(trusted: row["tenant_id"]), id: row["id"], buyer: row["buyer"], status: OrderStatus(rawValue: row["status"]) ?? .submitted,
                address: Address(street: row["street"], city: row["city"], zipCode: row["zip_code"], country: row["country"]),
                cardHolderName: row["card_holder"], cardNumberLast4: row["card_last4"], lines: lines[row["id"]] ?? [],
                total: row["total"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
                updatedAt: Date(timeIntervalSince1970: row["updated_at"]), cancelReason: row["cancel_reason"]
            )
        }
    }
}
