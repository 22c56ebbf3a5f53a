import ArgumentParser
import BespokeAPI
import BespokeBench
import BespokeCore
import BespokeServer
import BespokeShop
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `bespoke demo`: the platform, the shop, the paper's three tenants with their users and
/// registrations, and the tenant services as supervised child processes.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the platform, the shop and the paper's scenarios (tenants acme, globex, initech). Ctrl-C stops it."
    )

    @Option(help: "Port of the platform (0: any free port).") var port = 8080
    @Option(name: .customLong("services-port"), help: "First of the three ports of the tenant services (default: the next ports).")
    var servicesPort: Int?
    @Option(name: .customLong("data-dir"), help: "Directory of the demo's databases and logs.") var dataDirectory = "./demo-data"
    @Option(name: .customLong("grace-period"), help: "Seconds an order may be cancelled before it is validated.") var gracePeriod = 5.0
    @Option(name: .customLong("shipper-latency-ms"), help: "How long the fake shipping company takes to answer.") var shipperLatency = 150

    /// The demo's tenants: A customizes with events and an extension point, B intercepts, C
    /// does not customize at all.
    static let tenants: [(id: String, name: String, colour: String)] = [
        ("acme", "Acme Shop", "#a33a00"), ("globex", "Globex Stores", "#1d4f91"), ("initech", "Initech Supplies", "#2e6b3a"),
    ]

    /// The demo's users: (tenant, username, admin). The password is `<username>-password`.
    static let users: [(tenant: String, username: String, admin: Bool)] = [
        ("acme", "alice", false), ("acme", "acme-admin", true), ("globex", "bob", false), ("globex", "globex-admin", true),
        ("initech", "carol", false),
    ]

    func validate() throws {
        guard gracePeriod.isFinite, (0...3600).contains(gracePeriod) else { throw ValidationError("--grace-period is 0 to 3600 seconds") }
        guard (0...65535).contains(port) else { throw ValidationError("--port is 0 to 65535") }
        if let servicesPort, !(1...65533).contains(servicesPort) { throw ValidationError("--services-port is 1 to 65533 (three ports from it)") }
        if servicesPort == nil, port > 65532 { throw ValidationError("--port leaves no room for the services' three ports; give --services-port") }
        guard (0...10_000).contains(shipperLatency) else { throw ValidationError("--shipper-latency-ms is 0 to 10000") }
    }

    func run() async throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let platformPort = port == 0 ? try FreePort.find() : port
        let ports: [Int] =
            if let servicesPort { [servicesPort, servicesPort + 1, servicesPort + 2] }
            else if port == 0 { try FreePort.find(3, besides: [platformPort]) }
            else { [platformPort + 1, platformPort + 2, platformPort + 3] }
        let base = "http://127.0.0.1:\(platformPort)"

        var configuration = BespokeConfiguration(port: platformPort, dataDirectory: dataDirectory)
        configuration.adminToken = ProcessInfo.processInfo.environment["BESPOKE_ADMIN_TOKEN"]
        configuration.shop.gracePeriod = .milliseconds(Int64(gracePeriod * 1000))
        // The demo's tenant services run on this machine.
        configuration.customization.outbound.allowLoopback = true
        configuration.metrics = PrometheusExport.registry
        var logger = Logger(label: "bespoke")
        logger.logLevel = .notice
        let platform = try await openPlatform(configuration, logger: logger)
        let keys = try await Self.seed(platform, directory: dataDirectory)
        for tenant in Self.tenants {
            try await ShopSeed.seed(
                ShopSettings(tenant: TenantID(trusted: tenant.id), name: tenant.name, colour: tenant.colour), in: platform.shop.database
            )
        }
        for user in Self.users {
            let id = TenantID(trusted: user.tenant)
            if try await platform.identity.users(tenant: id).contains(where: { $0.username == user.username }) == false {
                _ = try await platform.identity.createUser(
                    tenant: id, username: user.username, password: "\(user.username)-password",
                    scopes: user.admin ? ["shop", "shop:admin"] : ["shop"]
                )
            }
        }

        // The tenant services, each its own process and database.
        let services = DemoServices(platform: platform, directory: dataDirectory)
        let shipperURL = "http://127.0.0.1:\(ports[0])", shippingURL = "http://127.0.0.1:\(ports[1])", rfidURL = "http://127.0.0.1:\(ports[2])"
        let shippingEnvironment = try await services.prepare(DemoServices.shipping, baseURL: shippingURL)
        let rfidEnvironment = try await services.prepare(DemoServices.rfid, baseURL: rfidURL)
        let logs = (dataDirectory as NSString).appendingPathComponent("logs"), run = (dataDirectory as NSString).appendingPathComponent("run")
        for directory in [logs, run] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let executable = Self.executablePath
        let parent = String(ProcessInfo.processInfo.processIdentifier)
        func child(_ name: String, _ arguments: [String], _ environment: [String: String] = [:]) -> ProcessSupervisor.Child {
            ProcessSupervisor.Child(
                name: name, executable: executable, arguments: ["scenario"] + arguments + ["--parent-pid", parent], environment: environment,
                logPath: "\(logs)/\(name).log", pidPath: "\(run)/\(name).pid"
            )
        }
        let database = { (name: String) in ((dataDirectory as NSString).appendingPathComponent(name) as NSString).standardizingPath }
        let supervisor = ProcessSupervisor(
            children: [
                child("shipper", ["shipper", "--port", "\(ports[0])", "--latency-ms", "\(shipperLatency)"]),
                child(
                    "shipping",
                    ["shipping", "--port", "\(ports[1])", "--platform", base, "--tenant", "acme", "--shipper", shipperURL,
                     "--database", database("tenant-acme-shipping.sqlite")],
                    shippingEnvironment
                ),
                child(
                    "rfid",
                    ["rfid", "--port", "\(ports[2])", "--platform", base, "--tenant", "globex",
                     "--database", database("tenant-globex-rfid.sqlite")],
                    rfidEnvironment
                ),
            ],
            logger: logger
        )

        let app = try await buildApplication(configuration, platform: platform, logger: logger) { port in
            Self.printGuide(
                base: "http://127.0.0.1:\(port)", keys: keys, adminToken: platform.adminToken,
                services: [("fake shipping company", shipperURL), ("acme's shipping service", shippingURL), ("globex's RFID scanning station", rfidURL)],
                logs: logs
            )
        }
        // Stopped in reverse: the tenant services first, then the platform.
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: app), .init(service: supervisor)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }

    /// This program, to start the tenant services with.
    static var executablePath: String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// Creates the demo tenants that do not exist yet; their first keys are kept in the data
    /// directory (mode 0600) so later runs can print them again.
    static func seed(_ platform: BespokePlatform, directory: String) async throws -> [(tenant: String, key: String)] {
        let keyFile = (directory as NSString).appendingPathComponent("demo-keys")
        var saved: [String: String] = [:]
        for line in ((try? String(contentsOfFile: keyFile, encoding: .utf8)) ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { saved[String(parts[0])] = String(parts[1]) }
        }
        for tenant in tenants where try await platform.store.tenant(TenantID(trusted: tenant.id)) == nil {
            let created = try await TenantOnboarding.createTenant(id: tenant.id, name: tenant.name, tenants: platform.store, keys: platform.store)
            _ = try await platform.bus.createSubscription(tenant: created.tenant.id, name: "audit", types: [])
            saved[tenant.id] = created.secret
        }
        let text = saved.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "\n") + "\n"
        // The keys are shown once: a demo started again over this directory reads them here.
        guard FileManager.default.createFile(atPath: keyFile, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("could not write the tenants' API keys to \(keyFile)")
        }
        return tenants.compactMap { tenant in saved[tenant.id].map { (tenant.id, $0) } }
    }

    static func printGuide(
        base: String, keys: [(tenant: String, key: String)], adminToken: String, services: [(String, String)], logs: String
    ) {
        let guide = """

            Bespoke demo is running at \(base)   (API description: \(base)/openapi.yaml)

            The shop, one storefront per tenant (sign in with the users below, password <user>-password):
              \(base)/shop/acme      Tenant A: alice, acme-admin     SHIPPING DATE column in My Orders; delivers to NO, SE, DK, FI only
              \(base)/shop/globex    Tenant B: bob, globex-admin     every order held until its RFID tags are scanned
              \(base)/shop/initech   Tenant C: carol                 no customization
            Tenant services (separate processes, restarted if they die; logs in \(logs)):
            \(services.map { "  \($0.1)   \($0.0)" }.joined(separator: "\n"))

            Tenant API keys: \(keys.map { "\($0.tenant) \($0.key)" }.joined(separator: "   "))
            Admin token: \(adminToken)
            The README's "Guided tour" says what to click. Ctrl-C stops everything.

            """
        FileHandle.standardOutput.write(Data(guide.utf8))
    }
}
