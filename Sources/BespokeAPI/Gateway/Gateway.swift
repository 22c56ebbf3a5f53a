public import BespokeCore

/// The gateway's shared state: per-tenant rate limits and API call counts.
public struct Gateway: Sendable {
    public let limiter: TenantRateLimiter
    public let counter: APICallCounter
    /// Routes to services running as separate processes; nil when none is configured.
    public let proxy: UpstreamProxy?

    /// - Throws: ``BespokeError`` `invalid_request` when an upstream is named like one of the
    ///   platform's own tenant routes (``GatewayConfiguration/reservedUpstreamNames``).
    public init(configuration: GatewayConfiguration, maxBodyBytes: Int = 4 * 1024 * 1024) throws {
        for name in configuration.upstreams.keys.sorted() { try GatewayConfiguration.checkUpstreamName(name) }
        self.limiter = TenantRateLimiter(
            default: .init(rate: configuration.rateLimit, burst: configuration.rateBurst),
            overrides: configuration.tenantRateLimits
        )
        self.counter = APICallCounter()
        self.proxy =
            configuration.upstreams.isEmpty
            ? nil : UpstreamProxy(
                upstreams: configuration.upstreams, maxBodyBytes: maxBodyBytes, timeout: configuration.upstreamTimeout,
                idleTimeout: configuration.upstreamIdleTimeout
            )
    }

    /// Forgets a deleted tenant.
    public func forget(_ tenant: TenantID) {
        limiter.forget(tenant)
        counter.forget(tenant)
    }
}

/// How the gateway treats tenants' API calls.
public struct GatewayConfiguration: Sendable {
    /// Calls a second each tenant may make on average.
    public var rateLimit: Double
    /// Calls a tenant may make at once.
    public var rateBurst: Double
    /// Tenants with another allowance than the default.
    public var tenantRateLimits: [TenantID: TenantRateLimiter.Limit]
    /// Services running as separate processes, by route name: `/v1/tenants/{tenant}/{name}/...`
    /// goes to the base URL (same path), for callers with the scope `name`.
    public var upstreams: [String: String]
    /// Whether calls to upstreams that can be decided from memory are proxied in the
    /// connection's pipeline, before the router (see ``UpstreamProxy``). Off, every call takes
    /// the router's way; the answers are the same, only slower.
    public var fastPath: Bool
    /// How long an upstream has to answer a call (`502 upstream_failed` after it).
    public var upstreamTimeout: Duration
    /// How long a keep-alive connection to an upstream may stay unused before it is closed.
    public var upstreamIdleTimeout: Duration = .seconds(60)

    /// Route names of the platform itself under `/v1/tenants/{tenant}/`: no upstream may take
    /// one, or it would shadow (or be shadowed by) the platform's own API.
    public static let reservedUpstreamNames: Set<String> = [
        "clients", "customizations", "events", "holds", "shop", "subscriptions", "usage", "users",
    ]

    /// - Throws: ``BespokeError`` `invalid_request` when `name` is one of ``reservedUpstreamNames``.
    public static func checkUpstreamName(_ name: String) throws(BespokeError) {
        guard reservedUpstreamNames.contains(name) else { return }
        throw BespokeError(.invalidRequest, "the upstream name '\(name)' is one of the platform's own routes under /v1/tenants/{tenant}/")
    }

    public init(
        rateLimit: Double = 500, rateBurst: Double = 1000, tenantRateLimits: [TenantID: TenantRateLimiter.Limit] = [:],
        upstreams: [String: String] = [:], fastPath: Bool = true, upstreamTimeout: Duration = .seconds(30)
    ) {
        self.rateLimit = rateLimit
        self.rateBurst = rateBurst
        self.tenantRateLimits = tenantRateLimits
        self.upstreams = upstreams
        self.fastPath = fastPath
        self.upstreamTimeout = upstreamTimeout
    }
}
