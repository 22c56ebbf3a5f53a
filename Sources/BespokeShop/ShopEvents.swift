/// The `data` of the shop's integration events. Member names follow eShopOnContainers;
/// amounts are in cents.

/// One line of an order or a basket as it travels in events.
public struct OrderLineData: Codable, Sendable, Equatable {
    public var productId: String
    public var productName: String
    public var unitPrice: Int
    public var units: Int

    public init(productId: String, productName: String, unitPrice: Int, units: Int) {
        self.productId = productId
        self.productName = productName
        self.unitPrice = unitPrice
        self.units = units
    }
}

/// A postal address.
public struct Address: Codable, Sendable, Equatable {
    public var street: String
    public var city: String
    public var zipCode: String
    public var country: String

    public init(street: String, city: String, zipCode: String, country: String) {
        self.street = street
        self.city = city
        self.zipCode = zipCode
        self.country = country
    }
}

/// `UserCheckoutAccepted`: the buyer, where to ship, the card (only its last digits) and the basket.
struct UserCheckoutAccepted: Codable, Sendable {
    var userId: String
    /// The checkout's request id; the order takes it as its id.
    var requestId: String
    var address: Address
    var cardHolderName: String
    var cardNumberLast4: String
    var items: [OrderLineData]
}

/// `OrderStarted`.
struct OrderStarted: Codable, Sendable {
    var userId: String
    var orderId: String
}

/// `GracePeriodConfirmed`, `OrderStockConfirmed`, `OrderPaymentSucceeded`, `OrderPaymentFailed`.
struct OrderReference: Codable, Sendable {
    var orderId: String
}

/// A line's product and units, as the Catalog checks them.
public struct StockItem: Codable, Sendable, Equatable {
    public var productId: String
    public var units: Int
}

/// `OrderStatusChangedTo...`: the order's new status, its buyer and, where the Catalog needs
/// them, its stock items.
struct OrderStatusChanged: Codable, Sendable {
    var orderId: String
    var orderStatus: String
    var buyerName: String
    var orderStockItems: [StockItem]?
    /// The order's total in cents (for the Payment service; not in eShop's payload).
    var total: Int?
}

/// `OrderStockRejected`: which items lacked stock.
struct OrderStockRejected: Codable, Sendable {
    struct ConfirmedItem: Codable, Sendable {
        var productId: String
        var hasStock: Bool
    }
    var orderId: String
    var orderStockItems: [ConfirmedItem]
}

/// `ProductPriceChanged`.
struct ProductPriceChanged: Codable, Sendable {
    var productId: String
    var newPrice: Int
    var oldPrice: Int
}
