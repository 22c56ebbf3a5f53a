import BespokeAPI
import BespokeCore
import BespokeIdentity
import BespokeShop
import Foundation
import HTTPTypes
import Hummingbird

/// The shop's REST API, under `/v1/tenants/{tenant}/shop`: catalog browsing and admin, the
/// basket and checkout, a buyer's orders, and order admin (cancel, ship).
///
/// The tenant is the caller's (its token or API key), never the body's. Buyer routes need the
/// scope `shop`; a signed-in user's token acts for that user (its `preferred_username`), while a
/// tenant's service or key acts for the buyer its `Bespoke-Buyer` header names (it is the
/// tenant's backend). A buyer's routes only ever show that buyer's basket and orders. Catalog,
/// settings and order administration need `shop:admin`.
struct ShopAPIController {
    let shop: Shop
    let links: SignInLinks

    static let buyerHeader = HTTPField.Name("Bespoke-Buyer")!
    static let bodyLimit = 64 * 1024

    func addRoutes(to tenant: RouterGroup<TenantRequestContext>) {
        let buyer = tenant.group("shop").add(middleware: RequireScope(Scope.shop))
        buyer.get(use: settings)
        buyer.get("catalog/items", use: items)
        buyer.get("catalog/items/:productId", use: item)
        buyer.get("basket", use: basket)
        buyer.put("basket/items/:productId", use: setBasketItem)
        buyer.delete("basket/items/:productId", use: removeBasketItem)
        buyer.post("basket/checkout", use: checkout)
        buyer.get("orders", use: orders)
        buyer.get("orders/:orderId", use: order)
        buyer.post("orders/:orderId/cancel", use: cancel)
        let admin = tenant.group("shop").add(middleware: RequireScope(Scope.shopAdmin))
        admin.put(use: putSettings)
        admin.post("catalog/items", use: addItem)
        admin.put("catalog/items/:productId/price", use: setPrice)
        admin.put("catalog/items/:productId/stock", use: setStock)
        admin.get("admin/orders", use: allOrders)
        admin.post("admin/orders/:orderId/cancel", use: adminCancel)
        admin.post("admin/orders/:orderId/ship", use: ship)
        admin.post("sign-in-links", use: signInLink)
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
        let buyer = try Self.buyer(request, context)
        return try JSONBody.response(ShopAPI.Basket(buyer: buyer, items: try await shop.basket.items(tenant: context.tenant, buyer: buyer)))
    }

    @Sendable func setBasketItem(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request, context)
        let body = try await JSONBody.decode(ShopAPI.Quantity.self, from: request, limit: Self.bodyLimit)
        let product = try await shop.catalog.item(tenant: context.tenant, id: try context.parameters.require("productId"))
        let items = try await shop.basket.set(
            tenant: context.tenant, buyer: buyer, product: product, quantity: body.quantity, calls: Self.calls(context)
        )
        return try JSONBody.response(ShopAPI.Basket(buyer: buyer, items: items))
    }

    @Sendable func removeBasketItem(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request, context)
        let items = try await shop.basket.remove(tenant: context.tenant, buyer: buyer, productID: try context.parameters.require("productId"))
        return try JSONBody.response(ShopAPI.Basket(buyer: buyer, items: items))
    }

    @Sendable func checkout(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request, context)
        let body = try await JSONBody.decode(ShopAPI.Checkout.self, from: request, limit: Self.bodyLimit)
        let orderID = try await shop.basket.checkout(
            tenant: context.tenant, buyer: buyer,
            CheckoutRequest(
                requestId: body.requestId ?? UUID().uuidString.lowercased(), address: body.address, cardHolderName: body.cardHolderName,
                cardNumber: body.cardNumber
            ),
            calls: Self.calls(context), outbox: shop.outboxChanged
        )
        let location = "/v1/tenants/\(context.tenant)/shop/orders/\(orderID)"
        var response = try JSONBody.response(ShopAPI.CheckoutAccepted(orderId: orderID, location: location), status: .accepted)
        response.headers[.location] = location
        return response
    }

    // MARK: Orders

    @Sendable func orders(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let buyer = try Self.buyer(request, context)
        let orders = try await shop.ordering.orders(tenant: context.tenant, buyer: buyer, limit: try request.pageLimit())
        return try JSONBody.response(ShopAPI.Orders(orders: orders.map(ShopAPI.OrderBody.init)))
    }

    @Sendable func order(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let order = try await shop.ordering.order(tenant: context.tenant, id: try context.parameters.require("orderId"), buyer: try Self.buyer(request, context))
        return try JSONBody.response(ShopAPI.OrderBody(order))
    }

    @Sendable func cancel(_ request: Request, context: TenantRequestContext) async throws -> Response {
        _ = try await openShop(context)
        let order = try await shop.ordering.cancel(
            tenant: context.tenant, id: try context.parameters.require("orderId"), buyer: try Self.buyer(request, context), outbox: shop.outboxChanged
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

    /// What the extension points are told of the request: its id, depth and trace.
    static func calls(_ context: TenantRequestContext) -> ExtensionCallContext {
        ExtensionCallContext(correlationID: context.requestID, depth: context.extensionDepth, traceParent: context.traceParent)
    }

    /// The buyer a request acts for: a signed-in user is that user; a service or key names one.
    static func buyer(_ request: Request, _ context: TenantRequestContext) throws(BespokeError) -> String {
        if case .token(let token) = context.caller, token.kind == .user {
            guard let username = token.username, ShopSession.isValidBuyer(username) else {
                throw BespokeError(.invalidRequest, "the token names no buyer")
            }
            if let named = request.headers[buyerHeader], named != username {
                throw BespokeError(.invalidRequest, "a user's token acts only for that user; leave out Bespoke-Buyer")
            }
            return username
        }
        guard let buyer = request.headers[buyerHeader] else {
            throw BespokeError(.invalidRequest, "the Bespoke-Buyer header names the buyer this request acts for")
        }
        guard ShopSession.isValidBuyer(buyer) else { throw BespokeError(.invalidRequest, "Bespoke-Buyer: " + ShopSession.buyerRule) }
        return buyer
    }
}
