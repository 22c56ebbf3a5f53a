import ArgumentParser
import BespokeScenarios
import BespokeSDK
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `bespoke scenario ...`: the paper's tenant services, each run as its own process (the
/// demo starts and supervises them). Secrets come from the environment, not the command line.
struct ScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario",
        abstract: "Run one of the demo's tenant services (the demo starts them for you).",
        subcommands: [ShipperCommand.self, ShippingCommand.self, RFIDCommand.self]
    )
}

/// What every scenario service is told.
struct ScenarioOptions: ParsableArguments {
    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port is 0 to 65535") }
    }

    @Option(help: "Port to listen on (0: any free port).") var port = 0
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "notice"
    @Option(name: .customLong("parent-pid"), help: "Stop when this process (the demo) is gone.") var parentPID: Int32?

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        return logger
    }

    /// Runs `app` until SIGINT/SIGTERM, or until the parent is gone.
    func run(_ app: some ApplicationProtocol, logger: Logger) async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app)]
        if let parentPID {
            services.append(.init(service: ParentWatch(parent: parentPID), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The tenant service's platform settings.
struct TenantServiceOptions: ParsableArguments {
    @Option(help: "The platform's URL.") var platform = "http://127.0.0.1:8080"
    @Option(help: "The tenant the service works for.") var tenant: String
    @Option(help: "The service's own SQLite database.") var database: String

    /// Client credentials and signing secrets, from BESPOKE_CLIENT_ID, BESPOKE_CLIENT_SECRET and
    /// BESPOKE_WEBHOOK_SECRETS (space-separated `whsec_...`).
    func secrets() throws -> (ClientCredentials, [WebhookSecret]) {
        let environment = ProcessInfo.processInfo.environment
        guard let id = environment["BESPOKE_CLIENT_ID"], let secret = environment["BESPOKE_CLIENT_SECRET"] else {
            throw ValidationError("BESPOKE_CLIENT_ID and BESPOKE_CLIENT_SECRET must name the service's OAuth client")
        }
        let texts = (environment["BESPOKE_WEBHOOK_SECRETS"] ?? "").split(whereSeparator: { $0 == " " || $0 == "," })
        guard !texts.isEmpty else { throw ValidationError("BESPOKE_WEBHOOK_SECRETS must list the registrations' signing secrets") }
        let secrets = try texts.map { text in
            do { return try WebhookSecret(String(text)) } catch { throw ValidationError("BESPOKE_WEBHOOK_SECRETS: \(error)") }
        }
        return (ClientCredentials(clientID: id, clientSecret: secret), secrets)
    }
}

/// Prints where a service listens, at once: under the demo its output is a log file, where
/// print's buffer would hold the line until the buffer fills or the service exits.
func listening(_ name: String) -> @Sendable (Int) async -> Void {
    { port in FileHandle.standardOutput.write(Data("\(name) listening on http://127.0.0.1:\(port)\n".utf8)) }
}

struct ShipperCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "shipper", abstract: "A fake shipping company's estimate API.")

    @OptionGroup var options: ScenarioOptions
    @Option(name: .customLong("latency-ms"), help: "How long an estimate takes (plus up to half as much at random).") var latency = 150

    func validate() throws {
        guard (0...10_000).contains(latency) else { throw ValidationError("--latency-ms is 0 to 10000") }
    }

    func run() async throws {
        let logger = options.logger("shipper")
        let configuration = FakeShipper.Configuration(
            port: options.port, latency: .milliseconds(latency), jitter: .milliseconds(latency / 2)
        )
        try await options.run(FakeShipper.buildApplication(configuration, logger: logger, onServerRunning: listening("shipper")), logger: logger)
    }
}

struct ShippingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shipping", abstract: "Tenant A's shipping-date service (observes orders, fills My Orders, validates addresses)."
    )

    @OptionGroup var options: ScenarioOptions
    @OptionGroup var tenant: TenantServiceOptions
    @Option(help: "The shipping company's URL.") var shipper: String
    @Option(help: "Countries delivered to, comma-separated.") var countries = "NO,SE,DK,FI"
    @Option(help: "event: learn orders from events; sync: at checkout, through the product's API.") var mode = "event"

    func validate() throws {
        guard ShippingService.Mode(rawValue: mode) != nil else { throw ValidationError("--mode is event or sync") }
        guard !deliveryCountries.isEmpty, deliveryCountries.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isLetter) }) else {
            throw ValidationError("--countries lists two-letter country codes, e.g. NO,SE")
        }
    }

    var deliveryCountries: Set<String> {
        Set(countries.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() })
    }

    func run() async throws {
        let (credentials, secrets) = try tenant.secrets()
        let mode = ShippingService.Mode(rawValue: mode) ?? .event
        var configuration = ShippingService.Configuration(
            tenant: tenant.tenant, platformURL: tenant.platform, credentials: credentials, secrets: secrets, shipperURL: shipper,
            databasePath: tenant.database
        )
        configuration.port = options.port
        configuration.mode = mode
        configuration.deliveryCountries = deliveryCountries
        let logger = options.logger("shipping-service")
        try await options.run(
            try ShippingService.buildApplication(configuration, logger: logger, onServerRunning: listening("shipping-service")), logger: logger
        )
    }
}

struct RFIDCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rfid", abstract: "Tenant B's RFID scanning station (intercepts orders until every line is scanned)."
    )

    @OptionGroup var options: ScenarioOptions
    @OptionGroup var tenant: TenantServiceOptions

    func run() async throws {
        let (credentials, secrets) = try tenant.secrets()
        var configuration = RFIDService.Configuration(
            tenant: tenant.tenant, platformURL: tenant.platform, credentials: credentials, secrets: secrets, databasePath: tenant.database
        )
        configuration.port = options.port
        let logger = options.logger("rfid-service")
        try await options.run(try RFIDService.buildApplication(configuration, logger: logger, onServerRunning: listening("rfid-service")), logger: logger)
    }
}
