/// The shop's integration events, with eShopOnContainers' names. Their `data` shapes are in
/// `ShopEvents.swift` and their JSON Schemas in ``ShopEventCatalog``.
///
/// Every order event carries the order id as its partition key, so the events of one order
/// reach each consumer in the order they were raised.
public enum ShopEventType: String, Sendable, CaseIterable {
    /// Basket → Ordering: a buyer checked out their basket.
    case userCheckoutAccepted = "UserCheckoutAccepted"
    /// Ordering → Basket: the order was created from the checkout.
    case orderStarted = "OrderStarted"
    case orderStatusChangedToSubmitted = "OrderStatusChangedToSubmitted"
    /// Grace-period worker → Ordering: the order can no longer be changed by its buyer for free.
    case gracePeriodConfirmed = "GracePeriodConfirmed"
    /// Ordering → Catalog: check the order's stock.
    case orderStatusChangedToAwaitingValidation = "OrderStatusChangedToAwaitingValidation"
    case orderStockConfirmed = "OrderStockConfirmed"
    case orderStockRejected = "OrderStockRejected"
    /// Ordering → Payment: charge the order.
    case orderStatusChangedToStockConfirmed = "OrderStatusChangedToStockConfirmed"
    case orderPaymentSucceeded = "OrderPaymentSucceeded"
    case orderPaymentFailed = "OrderPaymentFailed"
    /// Ordering → Catalog: the reserved stock is sold.
    case orderStatusChangedToPaid = "OrderStatusChangedToPaid"
    case orderStatusChangedToShipped = "OrderStatusChangedToShipped"
    /// Ordering → Catalog and Payment: release the order's stock, refund a payment.
    case orderStatusChangedToCancelled = "OrderStatusChangedToCancelled"
    /// Catalog → Basket: a product's price changed.
    case productPriceChanged = "ProductPriceChanged"

    /// The service that raises events of this type.
    var publisher: ShopService {
        switch self {
        case .userCheckoutAccepted: .basket
        case .orderStockConfirmed, .orderStockRejected, .productPriceChanged: .catalog
        case .orderPaymentSucceeded, .orderPaymentFailed: .payment
        default: .ordering
        }
    }

    /// The CloudEvents `source` of the shop's events raised by `service`.
    static func source(_ service: ShopService) -> String { "/bespoke/shop/\(service.rawValue)" }
}

/// The shop's services; each owns its tables and consumes events through its own subscription.
public enum ShopService: String, Sendable, CaseIterable {
    case catalog, basket, ordering, payment

    /// The bus subscription the service consumes, per tenant.
    public var subscriptionName: String { "shop.\(rawValue)" }

    /// The event types the service reacts to.
    public var consumes: [ShopEventType] {
        switch self {
        case .catalog: [.orderStatusChangedToAwaitingValidation, .orderStatusChangedToPaid, .orderStatusChangedToCancelled]
        case .basket: [.orderStarted, .productPriceChanged]
        case .ordering:
            [.userCheckoutAccepted, .gracePeriodConfirmed, .orderStockConfirmed, .orderStockRejected,
             .orderPaymentSucceeded, .orderPaymentFailed]
        case .payment: [.orderStatusChangedToStockConfirmed, .orderStatusChangedToCancelled]
        }
    }
}
