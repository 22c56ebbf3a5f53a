public import BespokeAPI
public import BespokeBus
public import BespokeCore
public import BespokeCustomization
public import BespokeIdentity
public import BespokeSQLite
public import BespokeShop
import BespokeShopWeb
import Foundation
public import Hummingbird
public import Logging

/// The running parts of a platform instance, for tests and commands that need them.
public struct BespokePlatform: Sendable {
    public let store: SQLiteStore
    public let bus: EventBus
    public let manager: TenantManager
    public let dispatcher: WebhookDispatcher
    public let authenticator: APIKeyAuthenticator
    public let adminToken: String
    /// The authorization server: users, clients, grants, signing keys.
    public let identity: IdentityService
    /// Rate limits and API call counts.
    public let gateway: Gateway
    /// The main product, and what fills its UI slots from tenants' UI extensions.
    public let shop: Shop
    public let uiExtensions: UIExtensionClient
    /// Calls tenants' synchronous extensions at the product's extension points.
    public let extensions: ExtensionClient
    let shopWeb: ShopWeb

    /// A single-use storefront sign-in link's path (for demos and operators).
    public func signInPath(tenant: TenantID, buyer: String, admin: Bool = false) async throws -> String {
        try await shopWeb.signInPath(tenant: tenant, buyer: buyer, admin: admin)
    }

    /// The HTTP faces of the products running on the platform (the shop's API and storefront).
    public var products: [any ProductRoutes] { [shopWeb] }
}

/// Opens the store and the bus for a configuration.
public func openPlatform(_ configuration: BespokeConfiguration, logger: Logger) async throws -> BespokePlatform {
    try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
    let store = try SQLiteStore(path: configuration.databasePath, durability: configuration.durability)
    // The customization index first: the bus decides from it on every event it admits.
    let index = CustomizationIndex()
    try await index.load(from: store)
    let bus = try await EventBus.open(store: store, configuration: configuration.bus, interception: index, logger: logger)
    let manager = TenantManager(store: store, bus: bus, index: index, configuration: configuration.customization, logger: logger)
    let adminToken = try configuration.resolveAdminToken()
    let authenticator = APIKeyAuthenticator(store: store, adminToken: adminToken)
    let sessionKey = try configuration.resolveSessionKey()
    var identityConfiguration = configuration.identity
    identityConfiguration.upstreamScopes += configuration.gateway.upstreams.keys.sorted()
    let identity = IdentityService(
        store: store, configuration: identityConfiguration, formKey: sessionKey, isActive: { [index] in !index.isSuspended($0) }
    )
    try await identity.start()
    let gateway = try Gateway(configuration: configuration.gateway, maxBodyBytes: configuration.http.maxBodyBytes)
    // The product: its own database, its vocabulary in the catalog, its rows purged with a tenant's.
    let extensions = ExtensionClient(manager: manager, logger: logger)
    let shop = Shop(
        database: try ShopDatabase(path: configuration.shopDatabasePath, durability: configuration.durability), bus: bus,
        configuration: configuration.shop, extensions: extensions, logger: logger
    )
    try await declareCatalog(ShopEventCatalog.events + ShopEventCatalog.slots + ShopExtensionPoints.catalogEntries, to: manager)
    manager.addDataOwner(shop)
    let uiExtensions = UIExtensionClient(manager: manager, logger: logger)
    let shopWeb = try await ShopWeb(shop: shop, slots: uiExtensions, identity: identity, sessionKey: sessionKey, logger: logger)
    return BespokePlatform(
        store: store, bus: bus, manager: manager, dispatcher: WebhookDispatcher(bus: bus, manager: manager, logger: logger),
        authenticator: authenticator, adminToken: adminToken, identity: identity, gateway: gateway, shop: shop, uiExtensions: uiExtensions, extensions: extensions, shopWeb: shopWeb
    )
}

/// Puts the product's event types and UI slots in the catalog, leaving entries that already
/// say the same untouched (so a restart does not make every node reload its index).
func declareCatalog(_ entries: [ShopEventCatalog.Entry], to manager: TenantManager) async throws {
    for entry in entries {
        if let current = manager.index.catalogEntry(entry.type), current.summary == entry.summary, current.schema == entry.schema,
            current.interceptable == entry.interceptable, current.mutableFields == entry.mutableFields
        {
            continue
        }
        try await manager.putCatalogEntry(
            type: entry.type, summary: entry.summary, schema: entry.schema, interceptable: entry.interceptable, mutableFields: entry.mutableFields
        )
    }
}

/// Builds the platform's application: the HTTP server in front, the bus behind it and the
/// store's background checkpointer, all under one ServiceLifecycle group. On SIGINT/SIGTERM the server stops accepting and drains its
/// requests first; then the bus commits what is queued and stops.
public func buildApplication(
    _ configuration: BespokeConfiguration,
    onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "bespoke")
    logger.logLevel = configuration.logLevel
    let platform = try await openPlatform(configuration, logger: logger)
    return try await buildApplication(configuration, platform: platform, logger: logger, onServerRunning: onServerRunning)
}

/// Builds the application over an already opened platform.
public func buildApplication(
    _ configuration: BespokeConfiguration,
    platform: BespokePlatform,
    logger: Logger,
    onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let store = platform.store
    let router = try await buildRouter(
        bus: platform.bus,
        manager: platform.manager,
        tenants: store,
        authenticator: platform.authenticator,
        identity: platform.identity,
        gateway: platform.gateway,
        limits: configuration.http,
        storeCheck: { _ = try await store.tenant(TenantID(trusted: "readiness-probe")) },
        products: platform.products,
        metrics: configuration.metrics
    )
    let serverName = "bespoke"
    let fastPath = configuration.gateway.fastPath ? platform.gateway.proxy.map { proxy in
        proxy.fastRoutes(
            identity: platform.identity, authenticator: platform.authenticator, isSuspended: { [index = platform.manager.index] in index.isSuspended($0) },
            limiter: platform.gateway.limiter, counter: platform.gateway.counter, logger: logger, serverName: serverName
        )
    } : nil
    return Application(
        router: router,
        server: fastPath.map { .http1(gatewayFastPath: $0) } ?? .http1(),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: serverName),
        // Started in this order and stopped in reverse: the server first, then the shop's
        // workers (what its outbox still holds is published at the next start), the UI
        // extension client, the dispatcher (pushes in flight end; unacknowledged ones are pushed
        // again after a restart), the bus, and the checkpointer.
        services: [
            SQLiteCheckpointer(store: store, logger: logger), platform.bus,
            CustomizationIndexSync(manager: platform.manager, logger: logger), platform.dispatcher, platform.uiExtensions,
            platform.extensions,
        ] + (platform.gateway.proxy.map { [$0] } ?? []) + platform.shop.services,
        onServerRunning: { [identity = platform.identity] channel in
            let port = channel.localAddress?.port ?? configuration.port
            // Without a configured issuer, tokens name the address the server listens on.
            identity.useIssuerIfUnset("http://\(configuration.host):\(port)")
            await onServerRunning(port)
        },
        logger: logger
    )
}
