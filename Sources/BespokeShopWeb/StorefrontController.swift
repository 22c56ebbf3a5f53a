import BespokeAPI
import BespokeCore
import BespokeIdentity
import BespokeShop
import BespokeStorage
import Foundation
import Hummingbird
import Logging
import Mustache

/// The storefront: server-rendered pages of a tenant's shop under `/shop/{tenant}`.
///
/// Catalog and product pages are public; the basket, checkout, My Orders and order pages need a
/// session (a signed cookie from a sign-in link), and the orders admin page an admin session.
/// Pages name UI slots (``UISlot``) that the ``UISlotProvider`` fills from the tenant's UI
/// extensions within a tight deadline; the templates render the entries escaped, and a page
/// never waits on, nor fails for, a late or broken extension. No page carries script
/// (`Content-Security-Policy: script-src 'none'`).
struct StorefrontController {
    let shop: Shop
    let slots: any UISlotProvider
    let links: SignInLinks
    /// The platform's authorization server: users sign in there and come back with a code.
    let identity: IdentityService
    let sealer: SessionSealer
    let library: MustacheLibrary
    let sessionLifetime: Duration
    let logger: Logger

    func addRoutes(to router: Router<BespokeRequestContext>) {
        let group = router.group("shop/:tenant")
        group.get(use: page(catalog))
        group.get("products/:productId", use: page(product))
        group.get("basket", use: page(basket))
        group.post("basket", use: page(addToBasket))
        group.post("checkout", use: page(checkout))
        group.get("orders", use: page(orders))
        group.get("orders/:orderId", use: page(order))
        group.post("orders/:orderId/cancel", use: page(cancel))
        group.get("admin/orders", use: page(adminOrders))
        group.post("admin/orders/:orderId/ship", use: page(ship))
        group.get("sign-in/:code", use: page(signIn))
        group.get("login", use: page(login))
        group.get("callback", use: page(callback))
        group.post("sign-out", use: page(signOut))
    }

    /// What every page knows: the tenant, its shop and who is signed in.
    struct Frame {
        let tenant: TenantID
        let settings: ShopSettings
        let session: ShopSession?

        var base: [String: Any] {
            var base: [String: Any] = [
                "tenant": tenant.rawValue, "shopName": settings.name, "colour": settings.colour,
                "isAdmin": session?.role == .admin,
            ]
            if let session { base["buyer"] = session.buyer }
            return base
        }

        func requireSession() throws(BespokeError) -> ShopSession {
            guard let session else { throw BespokeError(.unauthorized, "Sign in to see this page.") }
            return session
        }

        func requireAdmin() throws(BespokeError) -> ShopSession {
            let session = try requireSession()
            guard session.role == .admin else { throw BespokeError.notFound("page") }
            return session
        }
    }

    typealias Handler = @Sendable (Request, Frame, BespokeRequestContext) async throws -> Response

    /// Resolves the frame and turns errors into HTML pages.
    private func page(_ handler: @escaping Handler) -> @Sendable (Request, BespokeRequestContext) async throws -> Response {
        { request, context in
            guard let raw = context.parameters.get("tenant"), let tenant = try? TenantID(validating: raw),
                let settings = try await shop.settings(tenant)
            else {
                return html(renderMessage(title: "Not found", message: "There is no shop here.", base: [:]), status: .notFound)
            }
            let session = request.cookies[ShopSession.cookieName].flatMap { sealer.open($0.value) }.flatMap { $0.tenant == tenant ? $0 : nil }
            let frame = Frame(tenant: tenant, settings: settings, session: session)
            do {
                return try await handler(request, frame, context)
            } catch let error as BespokeError {
                // The API's status for the code; a storage failure is the shop being unavailable.
                let status: HTTPResponse.Status = error.code == .storageFailure ? .serviceUnavailable : error.code.httpStatus
                return html(renderMessage(title: status.reasonPhrase, message: error.message, base: frame.base), status: status)
            }
        }
    }

    // MARK: Pages

    @Sendable func catalog(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let items = try await shop.catalog.items(tenant: frame.tenant)
        let badges = await badges(for: items.map(\.id), tenant: frame.tenant)
        var view = frame.base
        view["title"] = "Catalog"
        view["products"] = items.map { StorefrontViews.product($0, tenant: frame.tenant, badges: badges[$0.id] ?? []) }
        return html(render("catalog", view))
    }

    @Sendable func product(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let item = try await shop.catalog.item(tenant: frame.tenant, id: try context.parameters.require("productId"))
        let badges = await badges(for: [item.id], tenant: frame.tenant)
        var view = frame.base
        view["title"] = item.name
        view["product"] = StorefrontViews.product(item, tenant: frame.tenant, badges: badges[item.id] ?? [])
        return html(render("product", view))
    }

    @Sendable func basket(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let session = try frame.requireSession()
        let items = try await shop.basket.items(tenant: frame.tenant, buyer: session.buyer)
        var view = frame.base
        view["title"] = "Basket"
        view["items"] = items.map {
            [
                "productId": $0.productId, "name": $0.productName, "quantity": $0.quantity, "unitPrice": StorefrontViews.money($0.unitPrice),
                "oldUnitPrice": $0.oldUnitPrice.map(StorefrontViews.money) ?? "", "repriced": $0.oldUnitPrice != nil, "total": StorefrontViews.money($0.unitPrice * $0.quantity),
            ] as [String: Any]
        }
        view["hasItems"] = !items.isEmpty
        view["total"] = StorefrontViews.money(items.reduce(0) { $0 + $1.unitPrice * $1.quantity })
        view["requestId"] = UUID().uuidString.lowercased()
        return html(render("basket", view))
    }

    struct BasketForm: Decodable {
        let productId: String
        let quantity: Int
    }

    @Sendable func addToBasket(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let session = try frame.requireSession()
        let form = try await Self.form(BasketForm.self, request)
        let product = try await shop.catalog.item(tenant: frame.tenant, id: form.productId)
        _ = try await shop.basket.set(
            tenant: frame.tenant, buyer: session.buyer, product: product, quantity: form.quantity, calls: Self.calls(context)
        )
        return .redirect(to: "/shop/\(frame.tenant)/basket", type: .normal)
    }

    struct CheckoutForm: Decodable {
        let requestId: String
        let street: String
        let city: String
        let zipCode: String
        let country: String
        let cardHolderName: String
        let cardNumber: String
    }

    @Sendable func checkout(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let session = try frame.requireSession()
        let form = try await Self.form(CheckoutForm.self, request)
        let orderID = try await shop.basket.checkout(
            tenant: frame.tenant, buyer: session.buyer,
            CheckoutRequest(
                requestId: form.requestId, address: Address(street: form.street, city: form.city, zipCode: form.zipCode, country: form.country),
                cardHolderName: form.cardHolderName, cardNumber: form.cardNumber
            ),
            calls: Self.calls(context), outbox: shop.outboxChanged
        )
        return .redirect(to: "/shop/\(frame.tenant)/orders/\(orderID)", type: .normal)
    }

    @Sendable func orders(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let session = try frame.requireSession()
        let orders = try await shop.ordering.orders(tenant: frame.tenant, buyer: session.buyer)
        var entries: [UISlotEntry] = []
        if !orders.isEmpty {
            entries = await slots.entries(
                for: UISlot.myOrdersColumns.rawValue, tenant: frame.tenant,
                context: .object(["buyer": .string(session.buyer), "orderIds": .array(orders.map { .string($0.id) })])
            )
        }
        let (labels, cells) = StorefrontViews.columns(entries, orders: orders)
        var view = frame.base
        view["title"] = "My Orders"
        view["columns"] = labels.map { ["label": $0] }
        view["hasOrders"] = !orders.isEmpty
        view["orders"] = orders.map { order -> [String: Any] in
            var row = StorefrontViews.order(order, tenant: frame.tenant)
            row["cells"] = labels.map { StorefrontViews.entry(cells[order.id]?[$0]) }
            return row
        }
        return html(render("orders", view))
    }

    @Sendable func order(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let session = try frame.requireSession()
        let order = try await shop.ordering.order(
            tenant: frame.tenant, id: try context.parameters.require("orderId"), buyer: session.role == .admin ? nil : session.buyer
        )
        let entries = await slots.entries(
            for: UISlot.orderDetailPanel.rawValue, tenant: frame.tenant,
            context: .object(["buyer": .string(order.buyer), "orderId": .string(order.id), "status": .string(order.status.eventName)])
        ).filter { $0.key == nil || $0.key == order.id }
        var view = frame.base
        view["title"] = "Order \(order.id.prefix(8))"
        view["order"] = StorefrontViews.order(order, tenant: frame.tenant)
        view["panel"] = entries.map { StorefrontViews.entry($0) }
        view["hasPanel"] = !entries.isEmpty
        return html(render("order", view))
    }

    @Sendable func cancel(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let session = try frame.requireSession()
        let id = try context.parameters.require("orderId")
        _ = try await shop.ordering.cancel(
            tenant: frame.tenant, id: id, buyer: session.role == .admin ? nil : session.buyer, outbox: shop.outboxChanged
        )
        return .redirect(to: "/shop/\(frame.tenant)/orders/\(id)", type: .normal)
    }

    @Sendable func adminOrders(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        _ = try frame.requireAdmin()
        let orders = try await shop.ordering.allOrders(tenant: frame.tenant, limit: 200)
        var view = frame.base
        view["title"] = "Orders"
        view["orders"] = orders.map { StorefrontViews.order($0, tenant: frame.tenant) }
        view["hasOrders"] = !orders.isEmpty
        return html(render("admin-orders", view))
    }

    @Sendable func ship(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        _ = try frame.requireAdmin()
        _ = try await shop.ordering.ship(tenant: frame.tenant, id: try context.parameters.require("orderId"), outbox: shop.outboxChanged)
        return .redirect(to: "/shop/\(frame.tenant)/admin/orders", type: .normal)
    }

    @Sendable func signIn(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let code = try context.parameters.require("code")
        guard let (buyer, role) = try await links.redeem(code, tenant: frame.tenant) else {
            throw BespokeError(.unauthorized, "This sign-in link is unknown, used or expired. Ask your shop for a new one.")
        }
        return try signedIn(tenant: frame.tenant, buyer: buyer, role: role)
    }

    /// Sends the browser to the platform's authorization endpoint (authorization code with
    /// PKCE), remembering the verifier and state in a signed cookie for the return.
    @Sendable func login(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let client = try await storefrontClient(frame.tenant)
        let verifier = OpaqueToken.generate(prefix: "", bytes: 32)
        let attempt = LoginAttempt(
            tenant: frame.tenant, state: SecureRandom.hex(16), verifier: verifier, expires: Date().addingTimeInterval(600).timeIntervalSince1970
        )
        var query = URLComponents()
        query.queryItems = [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: client.id),
            URLQueryItem(name: "redirect_uri", value: Self.callbackPath(frame.tenant)), URLQueryItem(name: "scope", value: "openid shop shop:admin"),
            URLQueryItem(name: "state", value: attempt.state), URLQueryItem(name: "code_challenge", value: PKCE.challenge(for: verifier)),
            URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        var response = Response.redirect(to: "/oauth/authorize?" + (query.percentEncodedQuery ?? ""), type: .normal)
        response.setCookie(
            Cookie(
                name: LoginAttempt.cookieName, value: try sealer.seal(attempt), expires: Date(timeIntervalSince1970: attempt.expires),
                path: "/shop/\(frame.tenant)", httpOnly: true, sameSite: .lax
            )
        )
        return response
    }

    /// The browser's return from the authorization endpoint: exchanges the code (in process,
    /// with the verifier), and signs the user in to the storefront as the token says.
    @Sendable func callback(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        if let error = query["error"] {
            throw BespokeError(.unauthorized, "Signing in did not succeed (\(error)). Try again.")
        }
        guard let value = request.cookies[LoginAttempt.cookieName]?.value, let attempt = sealer.open(value, as: LoginAttempt.self),
            attempt.tenant == frame.tenant, attempt.expires > Date().timeIntervalSince1970, let state = query["state"],
            String(state) == attempt.state, let code = query["code"]
        else {
            throw BespokeError(.unauthorized, "This sign-in expired or did not start here. Sign in again.")
        }
        let client = try await storefrontClient(frame.tenant)
        let tokens: TokenResponse
        do {
            tokens = try await identity.token(
                form: [
                    "grant_type": "authorization_code", "code": String(code), "redirect_uri": Self.callbackPath(frame.tenant),
                    "client_id": client.id, "code_verifier": attempt.verifier,
                ],
                basic: nil
            )
        } catch let error as OAuthError {
            throw BespokeError(.unauthorized, "Signing in did not succeed: \(error.message). Sign in again.")
        }
        guard let claims = await identity.verifyAccessToken(tokens.accessToken), claims.tenant == frame.tenant.rawValue,
            let username = claims.preferredUsername, ShopSession.isValidBuyer(username), claims.scopes.contains(Scope.shop)
        else {
            throw BespokeError(.unauthorized, "This account may not use the shop.")
        }
        let role: ShopSession.Role = claims.scopes.contains(Scope.shopAdmin) ? .admin : .shopper
        var response = try signedIn(tenant: frame.tenant, buyer: username, role: role)
        response.setCookie(
            Cookie(name: LoginAttempt.cookieName, value: "", expires: Date(timeIntervalSince1970: 0), path: "/shop/\(frame.tenant)", sameSite: .lax)
        )
        context.logger.info("storefront sign-in", metadata: ["tenant": "\(frame.tenant)", "role": "\(role.rawValue)"])
        return response
    }

    /// A redirect to the buyer's first page that sets the signed session cookie.
    private func signedIn(tenant: TenantID, buyer: String, role: ShopSession.Role) throws -> Response {
        let expires = Date().addingTimeInterval(sessionLifetime.seconds)
        let session = ShopSession(tenant: tenant, buyer: buyer, role: role, expires: expires.timeIntervalSince1970)
        var response = Response.redirect(to: "/shop/\(tenant)/\(role == .admin ? "admin/orders" : "orders")", type: .normal)
        response.setCookie(
            Cookie(
                name: ShopSession.cookieName, value: try sealer.seal(session), expires: expires, path: "/shop/\(tenant)",
                httpOnly: true, sameSite: .lax
            )
        )
        return response
    }

    static func callbackPath(_ tenant: TenantID) -> String { "/shop/\(tenant)/callback" }

    /// The storefront's OAuth client of the tenant (public, PKCE, returning to its callback).
    private func storefrontClient(_ tenant: TenantID) async throws -> ClientRecord {
        try await identity.firstPartyClient(
            tenant: tenant, name: "Storefront", redirectPath: Self.callbackPath(tenant), scopes: [Scope.openID, Scope.shop, Scope.shopAdmin]
        )
    }

    @Sendable func signOut(_ request: Request, frame: Frame, context: BespokeRequestContext) async throws -> Response {
        var response = Response.redirect(to: "/shop/\(frame.tenant)", type: .normal)
        response.setCookie(
            Cookie(name: ShopSession.cookieName, value: "", expires: Date(timeIntervalSince1970: 0), path: "/shop/\(frame.tenant)", sameSite: .lax)
        )
        return response
    }

    // MARK: Helpers

    /// The badges the tenant's extensions give the products, by product id.
    private func badges(for ids: [String], tenant: TenantID) async -> [String: [UISlotEntry]] {
        guard !ids.isEmpty else { return [:] }
        let entries = await slots.entries(
            for: UISlot.productBadge.rawValue, tenant: tenant, context: .object(["productIds": .array(ids.map(JSONValue.string))])
        )
        let wanted = Set(ids)
        return Dictionary(grouping: entries.filter { $0.key.map(wanted.contains) ?? false }, by: { $0.key! })
    }

    private func render(_ template: String, _ view: [String: Any]) -> String {
        guard let page = library.render(view, withTemplate: template) else {
            logger.error("a storefront template is missing", metadata: ["template": "\(template)"])
            return "template \(template) is missing"
        }
        return page
    }

    private func renderMessage(title: String, message: String, base: [String: Any]) -> String {
        var view = base
        view["title"] = title
        view["message"] = message
        view["hasShop"] = base["shopName"] != nil
        return render("message", view)
    }

    private func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
                .cacheControl: "no-store",
            ],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }

    /// What the extension points are told of a page's request.
    static func calls(_ context: BespokeRequestContext) -> ExtensionCallContext {
        ExtensionCallContext(correlationID: context.requestID, depth: context.extensionDepth, traceParent: context.traceParent)
    }

    static let formLimit = 16 * 1024

    static func form<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let body = try await JSONBody.collect(request, limit: formLimit)
        do {
            return try URLEncodedFormDecoder().decode(T.self, from: String(decoding: body, as: UTF8.self))
        } catch {
            throw BespokeError(.invalidRequest, "the form is incomplete or malformed")
        }
    }
}
