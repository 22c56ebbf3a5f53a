public import BespokeBus
public import BespokeCustomization
public import BespokeStorage
public import Hummingbird

/// Builds the router of the public HTTP API.
///
/// - `/health`, `/ready`, `/openapi.yaml`: unauthenticated.
/// - `/v1/admin/...`: the operator's admin token.
/// - `/v1/tenants/{tenant}/...`: a tenant API key of that tenant; the tenant is resolved once
///   into ``TenantRequestContext``.
public func buildRouter(
    bus: EventBus,
    manager: TenantManager,
    tenants: any TenantStore,
    authenticator: APIKeyAuthenticator,
    limits: HTTPLimits,
    storeCheck: @escaping @Sendable () async throws -> Void,
    products: [any ProductRoutes] = []
) -> Router<BespokeRequestContext> {
    let router = Router(context: BespokeRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    SystemController(bus: bus, storeCheck: storeCheck).addRoutes(to: router)

    let index = manager.index
    let v1 = router.group("v1").add(
        middleware: AuthenticationMiddleware(authenticator: authenticator, isSuspended: { index.isSuspended($0) })
    )
    AdminController(tenants: tenants, manager: manager, authenticator: authenticator)
        .addRoutes(to: v1.group("admin", context: AdminRequestContext.self))
    CatalogController(manager: manager).addRoutes(to: v1.group("admin", context: AdminRequestContext.self))
    let tenant = v1.group("tenants/:tenant", context: TenantRequestContext.self)
    EventsController(bus: bus, limits: limits).addRoutes(to: tenant)
    SubscriptionsController(bus: bus, limits: limits).addRoutes(to: tenant)
    CustomizationsController(manager: manager).addRoutes(to: tenant)
    HoldsController(bus: bus).addRoutes(to: tenant)
    for product in products {
        product.addTenantRoutes(to: tenant)
        product.addPublicRoutes(to: router)
    }
    return router
}

/// The HTTP faces of a product running on the platform (the shop).
public protocol ProductRoutes: Sendable {
    /// Adds the product's API under `/v1/tenants/{tenant}`: the tenant is resolved from the
    /// caller's credentials, as for the platform's own routes.
    func addTenantRoutes(to group: RouterGroup<TenantRequestContext>)
    /// Adds routes outside `/v1` that authenticate their own way (server-rendered pages with
    /// a session cookie).
    func addPublicRoutes(to router: Router<BespokeRequestContext>)
}
