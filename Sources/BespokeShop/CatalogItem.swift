/// A product of a tenant's catalog. Prices are in cents.
public struct CatalogItem: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var description: String
    public var price: Int
    /// Units available: stock not yet reserved by an order.
    public var stock: Int

    public init(id: String, name: String, description: String, price: Int, stock: Int) {
        self.id = id
        self.name = name
        self.description = description
        self.price = price
        self.stock = stock
    }
}
