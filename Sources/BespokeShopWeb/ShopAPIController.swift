import BespokeAPI
import BespokeCore
import BespokeShop
import Foundation
import HTTPTypes
import Hummingbird

/// The shop's REST API, under `/v1/tenants/{tenant}/shop`: catalog browsing and admin, the
/// basket and checkout, a buyer's orders, and order admin (cancel, ship).
///
/// The tenant is the caller's (its API key), never the body's. Until the identity issue gives
/// buyers their own tokens, the tenant's key acts for the buyer named by the `Bespoke-Buyer`
/// header on the buyer routes (the key's holder is the tenant's backend), and a buyer's
/// routes only ever show that buyer's basket and orders.
struct ShopAPIController {
    let shop: Shop
    let links: SignInLinks

    static let buyerHeader = HTTPField.Name("Bespoke-Buyer")!
    static let bodyLimit = 64 * 1024

    func addRoutes(to tenant: RouterGroup<TenantRequestContext>) {
        let group = tenant.group("shop")
        group.get(use: settings)
        group.put(use: putSettings)
        group.get("catalog/items", use: items)
        group.post("catalog/items", use: addItem)
        group.get("catalog/items/:productId", use: item)
        group.put("catalog/items/:productId/price", use: setPrice)
        group.put("catalog/items/:productId/stock", use: setStock)
        group.get("basket", use: basket)
        group.put("basket/items/:productId", use: setBasketItem)
        group.delete("basket/items/:productId", use: removeBasketItem)
        group.post("basket/checkout", use: checkout)
        group.get("orders", use: orders)
        group.get("orders/:orderId", use: order)
        group.post("orders/:orderId/cancel", use: cancel)
        group.get("admin/orders", use: allOrders)
        group.post("admin/orders/:orderId/cancel", use: adminCancel)
        group.post("admin/orders/:orderId/ship", use: ship)
        group.post("sign-in-links", use: signInLink)
    }

    // MARK: Settings

    @Sendable func settings(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try JSONBody.response(ShopAPI.SettingsBody(try await openShop(context)))
    }

    @Sendable func putSettings(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(ShopAPI.Settings.self, from: request, limit: Self.bodyLimit)
        let existing = try await shop.settings(context.tenant)
        let settings = ShopSettings(
            tenant: context.tenant, name: body.name, colour: body.colour ?? existing?.colour ?? "#2f6f4f",
            paymentOutcome: body.paymentOutcome ?? existing?.paymentOutcome ?? .succeed
        )
        try await shop.enable(settings)
        return try JSONBody.response(ShopAPI.SettingsBody(settings), status: existing == nil ? .created : .ok)
    }

    // MARK: Catalog

    @Sendable func items(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        return try JSONBody.response(ShopAPI.Items(items: try await shop.catalog.items(tenant: context.tenant)))
    }

    @Sendable func item(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        return try JSONBody.response(try await shop.catalog.item(tenant: context.tenant, id: try context.parameters.require("productId")))
    }

    @Sendable func addItem(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let item = try await JSONBody.decode(CatalogItem.self, from: request, limit: Self.bodyLimit)
        return try JSONBody.response(try await shop.catalog.add(tenant: context.tenant, item), status: .created)
    }

    @Sendable func setPrice(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let body = try await JSONBody.decode(ShopAPI.Price.self, from: request, limit: Self.bodyLimit)
        let item = try await shop.catalog.setPrice(
            tenant: context.tenant, id: try context.parameters.require("productId"), price: body.price, outbox: shop.outboxChanged
        )
        return try JSONBody.response(item)
    }

    @Sendable func setStock(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let body = try await JSONBody.decode(ShopAPI.Stock.self, from: request, limit: Self.bodyLimit)
        return try JSONBody.response(
            try await shop.catalog.setStock(tenant: context.tenant, id: try context.parameters.require("productId"), stock: body.stock)
        )
    }

    // MARK: Basket

    @Sendable func basket(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request)
        return try JSONBody.response(ShopAPI.Basket(buyer: buyer, items: try await shop.basket.items(tenant: context.tenant, buyer: buyer)))
    }

    @Sendable func setBasketItem(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request)
        let body = try await JSONBody.decode(ShopAPI.Quantity.self, from: request, limit: Self.bodyLimit)
        let product = try await shop.catalog.item(tenant: context.tenant, id: try context.parameters.require("productId"))
        let items = try await shop.basket.set(tenant: context.tenant, buyer: buyer, product: product, quantity: body.quantity)
        return try JSONBody.response(ShopAPI.Basket(buyer: buyer, items: items))
    }

    @Sendable func removeBasketItem(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request)
        let items = try await shop.basket.remove(tenant: context.tenant, buyer: buyer, productID: try context.parameters.require("productId"))
        return try JSONBody.response(ShopAPI.Basket(buyer: buyer, items: items))
    }

    @Sendable func checkout(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request)
        let body = try await JSONBody.decode(ShopAPI.Checkout.self, from: request, limit: Self.bodyLimit)
        let orderID = try await shop.basket.checkout(
            tenant: context.tenant, buyer: buyer,
            CheckoutRequest(
                requestId: body.requestId ?? UUID().uuidString.lowercased(), address: body.address, cardHolderName: body.cardHolderName,
                cardNumber: body.cardNumber
            ),
            outbox: shop.outboxChanged
        )
        let location = "/v1/tenants/\(context.tenant)/shop/orders/\(orderID)"
        var response = try JSONBody.response(ShopAPI.CheckoutAccepted(orderId: orderID, location: location), status: .accepted)
        response.headers[.location] = location
        return response
    }

    // MARK: Orders

    @Sendable func orders(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request)
        let orders = try await shop.ordering.orders(tenant: context.tenant, buyer: buyer, limit: try request.pageLimit())
        return try JSONBody.response(ShopAPI.Orders(orders: orders.map(ShopAPI.OrderBody.init)))
    }

    @Sendable func order(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let order = try await shop.ordering.order(tenant: context.tenant, id: try context.parameters.require("orderId"), buyer: try Self.buyer(request))
        return try JSONBody.response(ShopAPI.OrderBody(order))
    }

    @Sendable func cancel(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let order = try await shop.ordering.cancel(
            tenant: context.tenant, id: try context.parameters.require("orderId"), buyer: try Self.buyer(request), outbox: shop.outboxChanged
        )
        return try JSONBody.response(ShopAPI.OrderBody(order))
    }

    @Sendable func allOrders(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        var status: OrderStatus?
        if let name = request.uri.queryParameters.get("status") {
            guard let parsed = OrderStatus.allCases.first(where: { $0.eventName == name || $0.rawValue == name }) else {
                throw BespokeError(.invalidRequest, "status must be one of \(OrderStatus.allCases.map(\.eventName).joined(separator: ", "))")
            }
            status = parsed
        }
        let orders = try await shop.ordering.allOrders(tenant: context.tenant, status: status, limit: try request.pageLimit())
        return try JSONBody.response(ShopAPI.Orders(orders: orders.map(ShopAPI.OrderBody.init)))
    }

    @Sendable func adminCancel(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let order = try await shop.ordering.cancel(
            tenant: context.tenant, id: try context.parameters.require("orderId"), buyer: nil, outbox: shop.outboxChanged
        )
        return try JSONBody.response(ShopAPI.OrderBody(order))
    }

    @Sendable func ship(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let order = try await shop.ordering.ship(tenant: context.tenant, id: try context.parameters.require("orderId"), outbox: shop.outboxChanged)
        return try JSONBody.response(ShopAPI.OrderBody(order))
    }

    // MARK: Storefront sign-in

    @Sendable func signInLink(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let body = try await JSONBody.decode(ShopAPI.SignInLinkRequest.self, from: request, limit: Self.bodyLimit)
        guard ShopSession.isValidBuyer(body.buyer) else { throw BespokeError(.invalidRequest, ShopSession.buyerRule) }
        let (code, expiresAt) = try await links.create(tenant: context.tenant, buyer: body.buyer, role: body.role ?? .shopper)
        return try JSONBody.response(
            ShopAPI.SignInLink(path: "/shop/\(context.tenant)/sign-in/\(code)", expiresAt: RFC3339.format(expiresAt)), status: .created
        )
    }

    // MARK: Helpers

    /// The tenant's shop. - Throws: `not_found` when the tenant has not opened one.
    private func openShop(_ context: TenantRequestContext) async throws -> ShopSettings {
        guard let settings = try await shop.settings(context.tenant) else { throw BespokeError.notFound("shop") }
        return settings
    }

    static func buyer(_ request: Request) throws(BespokeError) -> String {
        guard let buyer = request.headers[buyerHeader] else {
            throw BespokeError(.invalidRequest, "the Bespoke-Buyer header names the buyer this request acts for")
        }
        guard ShopSession.isValidBuyer(buyer) else { throw BespokeError(.invalidRequest, "Bespoke-Buyer: " + ShopSession.buyerRule) }
        return buyer
    }
}
