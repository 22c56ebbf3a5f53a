public import BespokeCore
public import Foundation

/// Where an order is in its life.
///
/// Submitted → AwaitingValidation (after the grace period) → StockConfirmed → Paid → Shipped;
/// Cancelled from any state before Paid, also on stock rejection or payment failure.
public enum OrderStatus: String, Sendable, Codable, CaseIterable {
    case submitted, awaitingValidation, stockConfirmed, paid, shipped, cancelled

    /// Whether the buyer (or the shop) may still cancel.
    public var isCancellable: Bool {
        switch self {
        case .submitted, .awaitingValidation, .stockConfirmed: true
        case .paid, .shipped, .cancelled: false
        }
    }

    /// The status as eShop names it in its events.
    public var eventName: String {
        switch self {
        case .submitted: "Submitted"
        case .awaitingValidation: "AwaitingValidation"
        case .stockConfirmed: "StockConfirmed"
        case .paid: "Paid"
        case .shipped: "Shipped"
        case .cancelled: "Cancelled"
        }
    }

    /// The event that announces the order entering this status.
    var changedEvent: ShopEventType {
        switch self {
        case .submitted: .orderStatusChangedToSubmitted
        case .awaitingValidation: .orderStatusChangedToAwaitingValidation
        case .stockConfirmed: .orderStatusChangedToStockConfirmed
        case .paid: .orderStatusChangedToPaid
        case .shipped: .orderStatusChangedToShipped
        case .cancelled: .orderStatusChangedToCancelled
        }
    }
}

/// An order and its lines (the Ordering service's aggregate).
public struct Order: Sendable, Equatable, Codable {
    public var tenant: TenantID
    public var id: String
    public var buyer: String
    public var status: OrderStatus
    public var address: Address
    public var cardHolderName: String
    public var cardNumberLast4: String
    public var lines: [OrderLineData]
    /// The sum of the lines, in cents.
    public var total: Int
    public var createdAt: Date
    public var updatedAt: Date
    /// Why it was cancelled: `buyer`, `stock`, `payment` or `shop`.
    public var cancelReason: String?
}
