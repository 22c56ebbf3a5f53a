import BespokeCore
public import BespokeBus
public import BespokeCustomization
public import BespokeIdentity
public import BespokeStorage
import Foundation
public import Hummingbird
import Mustache
public import Prometheus

/// Builds the router of the public HTTP API: the gateway in front of every route.
///
/// - Every request gets an id and a trace context (`RequestTracingMiddleware`), then errors
///   become JSON (`ErrorMiddleware`).
/// - `/health`, `/ready`, `/openapi.yaml`, discovery, JWKS and the OAuth2 endpoints:
///   unauthenticated (the token endpoint authenticates clients itself).
/// - `/v1/admin/...` and `/metrics` (when `metrics` is given): the operator's admin token.
/// - `/v1/tenants/{tenant}/...`: an access token or API key of that tenant; the tenant is
///   resolved once into ``TenantRequestContext``, rate-limited and counted per tenant, and
///   each route checks its scope.
public func buildRouter(
    bus: EventBus,
    manager: TenantManager,
    tenants: any TenantStore,
    authenticator: APIKeyAuthenticator,
    identity: IdentityService,
    gateway: Gateway,
    limits: HTTPLimits,
    storeCheck: @escaping @Sendable () async throws -> Void,
    products: [any ProductRoutes] = [],
    metrics: PrometheusCollectorRegistry? = nil
) async throws -> Router<BespokeRequestContext> {
    let router = Router(context: BespokeRequestContext.self)
    router.add(middleware: RequestTracingMiddleware())
    if metrics != nil {
        // Requests per route, method and status, and their durations, as answered (after the
        // error middleware below has made errors responses). Calls the gateway's fast path
        // proxies never reach the router: `bespoke_api_calls_total` counts those.
        router.add(middleware: MetricsMiddleware())
    }
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    SystemController(bus: bus, storeCheck: storeCheck).addRoutes(to: router)

    let index = manager.index
    let authentication = AuthenticationMiddleware(authenticator: authenticator, identity: identity, isSuspended: { index.isSuspended($0) })
    guard let templates = Bundle.module.resourceURL?.appendingPathComponent("Templates").path else {
        throw BespokeError(.storageFailure, "the login page template is missing")
    }
    OAuthController(identity: identity, library: try await MustacheLibrary(directory: templates))
        .addRoutes(to: router, authenticated: router.group().add(middleware: authentication))

    if let metrics {
        MetricsController(registry: metrics)
            .addRoutes(to: router.group("metrics").add(middleware: authentication).group(context: AdminRequestContext.self))
    }

    let v1 = router.group("v1").add(middleware: authentication)
    let admin = v1.group("admin", context: AdminRequestContext.self)
    AdminController(tenants: tenants, manager: manager, authenticator: authenticator).addRoutes(to: admin)
    CatalogController(manager: manager).addRoutes(to: admin)
    let identityController = IdentityController(identity: identity, counter: gateway.counter)
    identityController.addAdminRoutes(to: admin)
    let tenant = v1.group("tenants/:tenant", context: TenantRequestContext.self)
        .add(middleware: TenantTrafficMiddleware(limiter: gateway.limiter, counter: gateway.counter))
    EventsController(bus: bus, limits: limits).addRoutes(to: tenant.scoped(Scope.eventsPublish))
    SubscriptionsController(bus: bus, limits: limits).addRoutes(to: tenant.scoped(Scope.eventsConsume))
    CustomizationsController(manager: manager).addRoutes(to: tenant.scoped(Scope.customizations))
    HoldsController(bus: bus).addRoutes(to: tenant.scoped(Scope.holds))
    identityController.addTenantRoutes(to: tenant)
    gateway.proxy?.addRoutes(to: tenant)
    for product in products {
        product.addTenantRoutes(to: tenant)
        product.addPublicRoutes(to: router)
    }
    return router
}

/// The HTTP faces of a product running on the platform (the shop).
public protocol ProductRoutes: Sendable {
    /// Adds the product's API under `/v1/tenants/{tenant}`: the tenant is resolved from the
    /// caller's credentials, as for the platform's own routes; each route declares its scope
    /// (``RouterGroup/scoped(_:)``).
    func addTenantRoutes(to group: RouterGroup<TenantRequestContext>)
    /// Adds routes outside `/v1` that authenticate their own way (server-rendered pages with
    /// a session cookie).
    func addPublicRoutes(to router: Router<BespokeRequestContext>)
}
