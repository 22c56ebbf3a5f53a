public import BespokeAPI
import BespokeCore
public import BespokeBus
public import BespokeCustomization
public import BespokeIdentity
public import BespokeSQLite
public import BespokeShop
import Foundation
public import Logging
public import Prometheus

/// Everything `bespoke serve` is configured with. Defaults work with no flags; the CLI
/// overrides them from flags and `BESPOKE_*` environment variables.
public struct BespokeConfiguration: Sendable {
    /// Address to listen on. Loopback by default.
    public var host: String
    /// Port to listen on; 0 picks a free one (printed at start-up).
    public var port: Int
    /// Directory of the SQLite database and the generated admin token.
    public var dataDirectory: String
    public var durability: SQLiteStore.Durability
    public var bus: BusConfiguration
    /// Pushes to tenants' endpoints, holds and outbound safety.
    public var customization: CustomizationConfiguration
    public var http: HTTPLimits
    /// The shop product running on the platform.
    public var shop: ShopConfiguration
    /// The authorization server: issuer, token lifetimes, bcrypt cost.
    public var identity: IdentityConfiguration
    /// Per-tenant rate limits.
    public var gateway: GatewayConfiguration
    /// The operator's token for `/v1/admin`. When nil, it is read from `<data>/admin-token`,
    /// which is created (mode 0600) with a random token on first start.
    public var adminToken: String?
    public var logLevel: Logger.Level
    /// The registry `GET /metrics` shows (for the admin token); no such route when nil. The
    /// CLI sets ``PrometheusExport/registry``, with which swift-metrics is bootstrapped.
    public var metrics: PrometheusCollectorRegistry?

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        dataDirectory: String = "./data",
        durability: SQLiteStore.Durability = .full,
        bus: BusConfiguration = BusConfiguration(),
        customization: CustomizationConfiguration = CustomizationConfiguration(),
        http: HTTPLimits = HTTPLimits(),
        shop: ShopConfiguration = ShopConfiguration(),
        identity: IdentityConfiguration = IdentityConfiguration(),
        gateway: GatewayConfiguration = GatewayConfiguration(),
        adminToken: String? = nil,
        logLevel: Logger.Level = .info
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.durability = durability
        self.bus = bus
        self.customization = customization
        self.http = http
        self.shop = shop
        self.identity = identity
        self.gateway = gateway
        self.adminToken = adminToken
        self.logLevel = logLevel
    }

    /// Path of the SQLite database.
    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("bespoke.sqlite") }

    /// Path of the shop's own database.
    public var shopDatabasePath: String { (dataDirectory as NSString).appendingPathComponent("shop.sqlite") }

    /// Path of the key that signs storefront sessions (created on first start, mode 0600).
    public var sessionKeyPath: String { (dataDirectory as NSString).appendingPathComponent("session-key") }

    /// The storefront session key: read from the data directory, or first written to it.
    public func resolveSessionKey() throws -> [UInt8] {
        let path = sessionKeyPath
        if let existing = FileManager.default.contents(atPath: path), existing.count >= 32 {
            return Array(existing)
        }
        let key = SecureRandom.bytes(32)
        guard FileManager.default.createFile(atPath: path, contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot write the session key to \(path)")
        }
        return key
    }

    /// Path of the generated admin token.
    public var adminTokenPath: String { (dataDirectory as NSString).appendingPathComponent("admin-token") }

    /// The admin token: configured, or read from (or first written to) the data directory.
    public func resolveAdminToken() throws -> String {
        if let adminToken {
            guard adminToken.count >= 16 else { throw ConfigurationError("the admin token must be at least 16 characters") }
            return adminToken
        }
        let path = adminTokenPath
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            let token = existing.trimmingCharacters(in: .whitespacesAndNewlines)
            if token.count >= 16 { return token }
        }
        let token = "adm_" + SecureRandom.hex(24)
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot write the admin token to \(path)")
        }
        return token
    }
}

/// A configuration value that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
