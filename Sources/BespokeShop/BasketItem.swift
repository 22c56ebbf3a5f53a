/// A line of a buyer's basket, priced when it was added (and repriced when the catalog price
/// changes: `oldUnitPrice` then keeps the previous one, to tell the buyer).
public struct BasketItem: Sendable, Equatable, Codable {
    public var productId: String
    public var productName: String
    public var unitPrice: Int
    public var oldUnitPrice: Int?
    public var quantity: Int

    public init(productId: String, productName: String, unitPrice: Int, oldUnitPrice: Int? = nil, quantity: Int) {
        self.productId = productId
        self.productName = productName
        self.unitPrice = unitPrice
        self.oldUnitPrice = oldUnitPrice
        self.quantity = quantity
    }
}

/// Where a checkout ships to and how it is paid.
public struct CheckoutRequest: Sendable, Equatable {
    /// The client's idempotency key: checking out twice with the same one places one order.
    public var requestId: String
    public var address: Address
    public var cardHolderName: String
    public var cardNumber: String

    public init(requestId: String, address: Address, cardHolderName: String, cardNumber: String) {
        self.requestId = requestId
        self.address = address
        self.cardHolderName = cardHolderName
        self.cardNumber = cardNumber
    }
}
