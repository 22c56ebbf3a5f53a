import BespokeSDK

// What the scenario services read from the shop: the `data` of the events they receive and
// the requests of the extension points and UI slots they answer, as the product's event
// catalog describes them. A tenant's service declares only the members it uses.

/// A postal address, as the shop sends it.
struct ShopAddress: Codable, Sendable {
    let street: String
    let city: String
    let zipCode: String
    let country: String
}

/// One line of an order or a basket.
struct ShopLine: Codable, Sendable {
    let productId: String
    let units: Int
}

/// `UserCheckoutAccepted`: the order was submitted (its id is the `requestId`).
struct CheckoutAccepted: TypedEventData {
    static let eventType = "UserCheckoutAccepted"
    let userId: String
    let requestId: String
    let address: ShopAddress
    let items: [ShopLine]

    var orderID: String { requestId }
}

/// `OrderStatusChangedToAwaitingValidation`: the grace period is over; the Catalog will check
/// stock next.
struct AwaitingValidation: TypedEventData {
    static let eventType = "OrderStatusChangedToAwaitingValidation"
    let orderId: String
    let buyerName: String
    let orderStockItems: [ShopLine]?
}

/// The request of `ext.order.validate`.
struct OrderToValidate: Decodable, Sendable {
    let buyer: String
    let items: [ShopLine]
    let total: Int
    let address: ShopAddress
}

/// The answer of `ext.order.validate`.
struct Verdict: Encodable, Sendable {
    let valid: Bool
    var reason: String?
}

/// The context of the `ui.my-orders.columns` slot.
struct MyOrdersContext: Decodable, Sendable {
    let buyer: String
    let orderIds: [String]
}

/// The context of the `ui.order-detail.panel` slot.
struct OrderDetailContext: Decodable, Sendable {
    let buyer: String
    let orderId: String
    let status: String
}
