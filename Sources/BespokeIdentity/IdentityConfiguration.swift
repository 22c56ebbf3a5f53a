/// Lifetimes and costs of the authorization server.
public struct IdentityConfiguration: Sendable {
    /// The `iss` of every token and the base of the discovery document's URLs. Nil: the
    /// server's own address, known once it listens.
    public var issuer: String?
    /// How long an access token is valid. Keys rotated out stay published this long (plus a minute).
    public var accessTokenLifetime: Duration
    public var refreshTokenLifetime: Duration
    public var authorizationCodeLifetime: Duration
    /// How long the login page's form stays valid.
    public var loginFormLifetime: Duration
    /// bcrypt cost of user passwords (4...31; each step doubles the work).
    public var bcryptCost: UInt8
    /// Scopes of services the gateway routes to (one per upstream, named after it).
    public var upstreamScopes: [String] = []

    public init(
        issuer: String? = nil,
        accessTokenLifetime: Duration = .seconds(900),
        refreshTokenLifetime: Duration = .seconds(30 * 24 * 3600),
        authorizationCodeLifetime: Duration = .seconds(60),
        loginFormLifetime: Duration = .seconds(600),
        bcryptCost: UInt8 = 12
    ) {
        self.issuer = issuer
        self.accessTokenLifetime = accessTokenLifetime
        self.refreshTokenLifetime = refreshTokenLifetime
        self.authorizationCodeLifetime = authorizationCodeLifetime
        self.loginFormLifetime = loginFormLifetime
        self.bcryptCost = bcryptCost
    }
}
