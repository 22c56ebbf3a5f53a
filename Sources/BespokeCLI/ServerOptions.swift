import ArgumentParser
import BespokeAPI
import BespokeBus
import BespokeCore
import BespokeSQLite
import BespokeServer
import Foundation
import Logging

/// Options shared by commands that open the platform. Each falls back to a `BESPOKE_*`
/// environment variable, then to a default that works out of the box.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (env BESPOKE_HOST). Default 127.0.0.1.")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free port (env BESPOKE_PORT). Default 8080.")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Directory of the SQLite database (env BESPOKE_DATA_DIR). Default ./data.")
    var dataDirectory: String?

    @Option(help: "Commit durability: full (fsync each commit) or normal (env BESPOKE_DURABILITY). Default full.")
    var durability: String?

    @Option(help: "Largest accepted event in bytes, at least 65536 (env BESPOKE_MAX_EVENT_BYTES). Default 65536.")
    var maxEventBytes: Int?

    @Option(help: "Largest accepted request body in bytes (env BESPOKE_MAX_BODY_BYTES). Default 4194304.")
    var maxBodyBytes: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env BESPOKE_LOG_LEVEL). Default info.")
    var logLevel: String?

    @Option(help: "Push to tenant endpoints on loopback addresses: true or false (env BESPOKE_ALLOW_LOOPBACK_ENDPOINTS). Default false.")
    var allowLoopbackEndpoints: Bool?

    @Option(help: "Push to tenant endpoints on private networks: true or false (env BESPOKE_ALLOW_PRIVATE_ENDPOINTS). Default false.")
    var allowPrivateEndpoints: Bool?

    @Option(help: "Seconds an order stays Submitted before validation, the shop's grace period (env BESPOKE_GRACE_PERIOD). Default 10.")
    var gracePeriod: Double?

    @Option(help: "Calls a second each tenant may make on average, per tenant (env BESPOKE_RATE_LIMIT). Default 500.")
    var rateLimit: Double?

    @Option(help: "Calls a tenant may make at once (env BESPOKE_RATE_BURST). Default 1000.")
    var rateBurst: Double?

    @Option(
        help: "Events a second each tenant may publish on average, twice that at once; 0 for no limit (env BESPOKE_TENANT_PUBLISH_RATE). Default 5000."
    )
    var tenantPublishRate: Double?

    @Option(help: "The issuer URL of tokens, as clients reach this server (env BESPOKE_ISSUER). Default http://<host>:<port>.")
    var issuer: String?

    @Option(
        name: .customLong("upstream"),
        help: "A service the gateway routes to, NAME=URL: /v1/tenants/{t}/NAME/... goes to URL, for tokens with the scope NAME (repeatable; env BESPOKE_UPSTREAMS, comma-separated)."
    )
    var upstreams: [String] = []

    @Option(help: "Seconds an upstream has to begin its answer before the call fails with 502 (env BESPOKE_UPSTREAM_TIMEOUT). Default 30.")
    var upstreamTimeout: Double?

    @Option(
        help: "Proxy upstream calls in the connection's pipeline when they can be decided from memory: true or false (env BESPOKE_GATEWAY_FAST_PATH). Default true."
    )
    var gatewayFastPath: Bool?

    @Option(help: "Days the log of webhook push attempts keeps an attempt (env BESPOKE_ATTEMPT_RETENTION_DAYS). Default 30.")
    var attemptRetentionDays: Double?

    @Option(
        help: "Events stored longer ago than this many days are deleted once every subscription of their tenant has settled them; 0 keeps every event (env BESPOKE_EVENT_RETENTION_DAYS). Default 7."
    )
    var eventRetentionDays: Double?

    @Option(
        help: "Days the consumers' inboxes (the shop's services, in-process consumers) remember an event they handled, at least 2 (env BESPOKE_INBOX_RETENTION_DAYS). Default 30."
    )
    var inboxRetentionDays: Double?

    /// The configuration these options (and the environment) describe. The admin token comes
    /// only from BESPOKE_ADMIN_TOKEN or the data directory, never from a flag (flags show in `ps`).
    func configuration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> BespokeConfiguration {
        var configuration = BespokeConfiguration()
        configuration.host = host ?? environment["BESPOKE_HOST"] ?? configuration.host
        if let port = try port ?? environment["BESPOKE_PORT"].map({ try Self.int($0, "BESPOKE_PORT") }) {
            guard (0...65535).contains(port) else { throw ValidationError("port must be between 0 and 65535") }
            configuration.port = port
        }
        configuration.dataDirectory = dataDirectory ?? environment["BESPOKE_DATA_DIR"] ?? configuration.dataDirectory
        if let raw = durability ?? environment["BESPOKE_DURABILITY"] {
            guard let value = SQLiteStore.Durability(rawValue: raw) else {
                throw ValidationError("durability must be 'full' or 'normal'")
            }
            configuration.durability = value
        }
        if let bytes = try maxEventBytes ?? environment["BESPOKE_MAX_EVENT_BYTES"].map({ try Self.int($0, "BESPOKE_MAX_EVENT_BYTES") }) {
            guard bytes >= EventLimits.minimumEventBytes else {
                throw ValidationError("max event size must be at least \(EventLimits.minimumEventBytes) bytes (CloudEvents)")
            }
            configuration.bus.limits.maxEventBytes = bytes
        }
        if let bytes = try maxBodyBytes ?? environment["BESPOKE_MAX_BODY_BYTES"].map({ try Self.int($0, "BESPOKE_MAX_BODY_BYTES") }) {
            guard bytes >= configuration.bus.limits.maxEventBytes else {
                throw ValidationError("max body size must be at least the max event size")
            }
            configuration.http.maxBodyBytes = bytes
        }
        if let raw = logLevel ?? environment["BESPOKE_LOG_LEVEL"] {
            guard let level = Logger.Level(rawValue: raw) else { throw ValidationError("unknown log level '\(raw)'") }
            configuration.logLevel = level
        }
        if let allow = try allowLoopbackEndpoints ?? environment["BESPOKE_ALLOW_LOOPBACK_ENDPOINTS"].map({
            try Self.bool($0, "BESPOKE_ALLOW_LOOPBACK_ENDPOINTS")
        }) {
            configuration.customization.outbound.allowLoopback = allow
        }
        if let allow = try allowPrivateEndpoints ?? environment["BESPOKE_ALLOW_PRIVATE_ENDPOINTS"].map({
            try Self.bool($0, "BESPOKE_ALLOW_PRIVATE_ENDPOINTS")
        }) {
            configuration.customization.outbound.allowPrivateNetworks = allow
        }
        if let seconds = try gracePeriod ?? environment["BESPOKE_GRACE_PERIOD"].map({ try Self.number($0, "BESPOKE_GRACE_PERIOD") }) {
            guard (0...86_400).contains(seconds) else { throw ValidationError("the grace period must be 0-86400 seconds") }
            configuration.shop.gracePeriod = .milliseconds(Int64(seconds * 1000))
        }
        if let rate = try rateLimit ?? environment["BESPOKE_RATE_LIMIT"].map({ try Self.number($0, "BESPOKE_RATE_LIMIT") }) {
            guard rate > 0 else { throw ValidationError("the rate limit must be above 0") }
            configuration.gateway.rateLimit = rate
            configuration.gateway.rateBurst = max(configuration.gateway.rateBurst, rate)
        }
        if let burst = try rateBurst ?? environment["BESPOKE_RATE_BURST"].map({ try Self.number($0, "BESPOKE_RATE_BURST") }) {
            guard burst >= 1 else { throw ValidationError("the rate burst must be at least 1") }
            configuration.gateway.rateBurst = burst
        }
        if let rate = try tenantPublishRate ?? environment["BESPOKE_TENANT_PUBLISH_RATE"].map({ try Self.number($0, "BESPOKE_TENANT_PUBLISH_RATE") }) {
            guard rate == 0 || rate >= 1 else { throw ValidationError("the tenant publish rate must be 0 (no limit) or at least 1") }
            configuration.bus.publishQuota = rate == 0 ? nil : PublishQuota(eventsPerSecond: rate, burst: max(2 * rate, 1))
        }
        if let issuer = issuer ?? environment["BESPOKE_ISSUER"] {
            guard let url = URLComponents(string: issuer), url.scheme == "https" || url.scheme == "http", url.host != nil else {
                throw ValidationError("the issuer must be an http(s) URL")
            }
            configuration.identity.issuer = issuer
        }
        let routes = upstreams.isEmpty ? (environment["BESPOKE_UPSTREAMS"]?.split(separator: ",").map(String.init) ?? []) : upstreams
        for route in routes {
            let parts = route.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }),
                let url = URLComponents(string: parts[1]), url.scheme == "http" || url.scheme == "https", url.host != nil
            else { throw ValidationError("an upstream is NAME=URL, NAME letters, digits and '-': '\(route)'") }
            do {
                try GatewayConfiguration.checkUpstreamName(parts[0])
            } catch {
                throw ValidationError(error.message)
            }
            configuration.gateway.upstreams[parts[0]] = parts[1]
        }
        if let seconds = try upstreamTimeout ?? environment["BESPOKE_UPSTREAM_TIMEOUT"].map({ try Self.number($0, "BESPOKE_UPSTREAM_TIMEOUT") }) {
            guard seconds > 0, seconds <= 3600 else { throw ValidationError("the upstream timeout must be above 0 and at most 3600 seconds") }
            configuration.gateway.upstreamTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let fast = try gatewayFastPath ?? environment["BESPOKE_GATEWAY_FAST_PATH"].map({ try Self.bool($0, "BESPOKE_GATEWAY_FAST_PATH") }) {
            configuration.gateway.fastPath = fast
        }
        if let days = try attemptRetentionDays
            ?? environment["BESPOKE_ATTEMPT_RETENTION_DAYS"].map({ try Self.number($0, "BESPOKE_ATTEMPT_RETENTION_DAYS") })
        {
            guard days > 0, days <= 3650 else { throw ValidationError("the attempt retention must be above 0 and at most 3650 days") }
            configuration.customization.attemptRetention = .seconds(days * 86_400)
        }
        if let days = try eventRetentionDays
            ?? environment["BESPOKE_EVENT_RETENTION_DAYS"].map({ try Self.number($0, "BESPOKE_EVENT_RETENTION_DAYS") })
        {
            guard days >= 0, days <= 36_500 else { throw ValidationError("the event retention must be 0 (keep every event) to 36500 days") }
            configuration.bus.eventRetention = days == 0 ? nil : .seconds(days * 86_400)
        }
        if let days = try inboxRetentionDays
            ?? environment["BESPOKE_INBOX_RETENTION_DAYS"].map({ try Self.number($0, "BESPOKE_INBOX_RETENTION_DAYS") })
        {
            // Shorter, it could forget an event before its last redelivery: an ack timeout and a
            // retry delay run to 36 hours together at most (`maxAckTimeout`, `maxRetryDelay`).
            guard days >= 2, days <= 3650 else { throw ValidationError("the inbox retention must be 2 to 3650 days") }
            configuration.bus.inboxRetention = .seconds(days * 86_400)
            configuration.shop.inboxRetention = .seconds(days * 86_400)
        }
        configuration.adminToken = environment["BESPOKE_ADMIN_TOKEN"]
        return configuration
    }

    private static func bool(_ raw: String, _ name: String) throws -> Bool {
        switch raw.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw ValidationError("\(name) must be true or false")
        }
    }

    private static func number(_ raw: String, _ name: String) throws -> Double {
        guard let value = Double(raw), value.isFinite else { throw ValidationError("\(name) must be a number") }
        return value
    }

    private static func int(_ raw: String, _ name: String) throws -> Int {
        guard let value = Int(raw) else { throw ValidationError("\(name) must be a whole number") }
        return value
    }
}
