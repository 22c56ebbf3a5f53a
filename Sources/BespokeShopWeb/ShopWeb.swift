public import BespokeAPI
public import BespokeCore
public import BespokeIdentity
public import BespokeShop
import Foundation
public import Hummingbird
public import Logging
import Mustache

/// The shop's HTTP faces, for the platform's router: the REST API under
/// `/v1/tenants/{tenant}/shop` and the storefront under `/shop/{tenant}`.
public struct ShopWeb: ProductRoutes {
    let api: ShopAPIController
    let storefront: StorefrontController

    /// - Parameters:
    ///   - slots: fills the storefront's UI slots (the platform's UI extension client).
    ///   - sessionKey: signs storefront session cookies (at least 32 bytes; keep it secret and
    ///     stable across restarts, or every shopper is signed out).
    ///   - identity: the platform's authorization server, where storefront users sign in.
    public init(
        shop: Shop, slots: any UISlotProvider, identity: IdentityService, sessionKey: [UInt8], sessionLifetime: Duration = .seconds(12 * 3600),
        logger: Logger
    ) async throws {
        precondition(sessionKey.count >= 32, "the storefront session key must have at least 32 bytes")
        guard let directory = Bundle.module.resourceURL?.appendingPathComponent("Templates").path else {
            throw BespokeError(.unavailable, "the storefront templates are missing from the bundle")
        }
        let library = try await MustacheLibrary(directory: directory)
        let links = SignInLinks(database: shop.database, lifetime: shop.configuration.signInLinkLifetime)
        api = ShopAPIController(shop: shop, links: links)
        storefront = StorefrontController(
            shop: shop, slots: slots, links: links, identity: identity, sealer: SessionSealer(key: sessionKey), library: library,
            sessionLifetime: sessionLifetime, logger: logger
        )
    }

    /// A single-use storefront sign-in link's path for a buyer of `tenant` (or its admin).
    public func signInPath(tenant: TenantID, buyer: String, admin: Bool = false) async throws -> String {
        let (code, _) = try await api.links.create(tenant: tenant, buyer: buyer, role: admin ? .admin : .shopper)
        return "/shop/\(tenant)/sign-in/\(code)"
    }

    public func addTenantRoutes(to group: RouterGroup<TenantRequestContext>) {
        api.addRoutes(to: group)
    }

    public func addPublicRoutes(to router: Router<BespokeRequestContext>) {
        storefront.addRoutes(to: router)
    }
}
