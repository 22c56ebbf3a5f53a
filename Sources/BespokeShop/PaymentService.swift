import BespokeCore
import Foundation
import GRDB
import Logging

/// The Payment service, simulated: it charges an order whose stock is confirmed, succeeding or
/// failing as the tenant's settings say, at most once per order; it refunds a charged order
/// that is cancelled after all.
struct PaymentService: Sendable {
    let logger: Logger

    func apply(_ event: CloudEvent, _ type: ShopEventType, tenant: TenantID, _ db: Database) throws {
        let order = try event.decodeData(OrderStatusChanged.self)
        switch type {
        case .orderStatusChangedToStockConfirmed:
            guard try Bool.fetchOne(
                db, sql: "SELECT 1 FROM payments WHERE tenant_id = ? AND order_id = ?", arguments: [tenant.rawValue, order.orderId]
            ) == nil else { return }
            let setting = try String.fetchOne(db, sql: "SELECT payment_outcome FROM shop_tenants WHERE tenant_id = ?", arguments: [tenant.rawValue])
            let outcome = ShopSettings.PaymentOutcome(rawValue: setting ?? "") ?? .succeed
            try db.execute(
                sql: "INSERT INTO payments (tenant_id, order_id, outcome, amount, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [tenant.rawValue, order.orderId, outcome == .succeed ? "charged" : "declined", order.total ?? 0, Date().timeIntervalSince1970]
            )
            try Outbox.append(
                db, tenant: tenant, outcome == .succeed ? .orderPaymentSucceeded : .orderPaymentFailed, by: .payment, key: order.orderId,
                data: OrderReference(orderId: order.orderId), traceparent: event.traceparent
            )
        case .orderStatusChangedToCancelled:
            try db.execute(
                sql: "UPDATE payments SET refunded_at = ? WHERE tenant_id = ? AND order_id = ? AND outcome = 'charged' AND refunded_at IS NULL",
                arguments: [Date().timeIntervalSince1970, tenant.rawValue, order.orderId]
            )
            if db.changesCount > 0 {
                logger.notice("a charged order was cancelled; refunded", metadata: ["tenant": "\(tenant)", "order": "\(order.orderId)"])
            }
        default:
            return
        }
    }
}
