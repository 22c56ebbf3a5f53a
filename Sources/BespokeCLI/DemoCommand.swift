import ArgumentParser
import BespokeAPI
import BespokeCore
import BespokeServer
import BespokeShop
import Foundation
import Hummingbird
import Logging

/// `bespoke demo`: the platform with two demo tenants, ready to publish to and pull from.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the platform with demo tenants (acme, globex) and print how to use it. Ctrl-C stops it."
    )

    @Option(help: "Port to listen on.") var port = 8080
    @Option(name: .customLong("data-dir"), help: "Directory of the demo's database.") var dataDirectory = "./demo-data"

    func run() async throws {
        var configuration = BespokeConfiguration(port: port, dataDirectory: dataDirectory)
        configuration.adminToken = ProcessInfo.processInfo.environment["BESPOKE_ADMIN_TOKEN"]
        // The demo's tenant services run on this machine.
        configuration.customization.outbound.allowLoopback = true
        var logger = Logger(label: "bespoke")
        logger.logLevel = .notice
        let platform = try await openPlatform(configuration, logger: logger)
        let keys = try await Self.seed(platform, directory: dataDirectory)
        // Each demo tenant runs the shop, with the demo catalog (kept as it is on later runs).
        for (id, name, colour) in [("acme", "Acme Shop", "#a33a00"), ("globex", "Globex Stores", "#1d4f91")] {
            try await ShopSeed.seed(ShopSettings(tenant: TenantID(trusted: id), name: name, colour: colour), in: platform.shop.database)
        }
        // Demo users (kept on later runs): they sign in on the platform's login page.
        var links: [String] = []
        for (tenant, user, admin) in [("acme", "alice", false), ("acme", "acme-admin", true), ("globex", "bob", false)] {
            let id = TenantID(trusted: tenant)
            if try await platform.identity.users(tenant: id).contains(where: { $0.username == user }) == false {
                _ = try await platform.identity.createUser(
                    tenant: id, username: user, password: "\(user)-password", scopes: admin ? ["shop", "shop:admin"] : ["shop"]
                )
            }
            links.append("  \(tenant) \(admin ? "admin  " : "shopper") \(user) / \(user)-password")
        }
        let signInLinks = links
        let app = try await buildApplication(configuration, platform: platform, logger: logger) { port in
            Self.printGuide(port: port, keys: keys, adminToken: platform.adminToken, links: signInLinks)
        }
        try await app.runService()
    }

    /// Creates the demo tenants on first run; their keys are kept in the data directory
    /// (mode 0600) so later runs can print them again.
    static func seed(_ platform: BespokePlatform, directory: String) async throws -> [(tenant: String, key: String)] {
        let keyFile = (directory as NSString).appendingPathComponent("demo-keys")
        if let saved = try? String(contentsOfFile: keyFile, encoding: .utf8) {
            let pairs = saved.split(separator: "\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: " ")
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            }
            if !pairs.isEmpty { return pairs }
        }
        var keys: [(String, String)] = []
        for (id, name) in [("acme", "Acme Shop"), ("globex", "Globex Stores")] {
            let created = try await TenantOnboarding.createTenant(id: id, name: name, tenants: platform.store, keys: platform.store)
            _ = try await platform.bus.createSubscription(tenant: created.tenant.id, name: "audit", types: [])
            keys.append((id, created.secret))
        }
        let text = keys.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n"
        FileManager.default.createFile(atPath: keyFile, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        return keys
    }

    static func printGuide(port: Int, keys: [(tenant: String, key: String)], adminToken: String, links: [String]) {
        let base = "http://127.0.0.1:\(port)"
        let acmeKey = keys.first { $0.tenant == "acme" }?.key ?? "<acme key>"
        let guide = """

            Bespoke is running at \(base)   (API description: \(base)/openapi.yaml)
            Admin token: \(adminToken)
            Tenants and their API keys:
            \(keys.map { "  \($0.tenant): \($0.key)" }.joined(separator: "\n"))
            Each tenant has a subscription 'audit' receiving all its events.

            Publish an event as acme:
              curl -s -X POST \(base)/v1/tenants/acme/events -H 'Authorization: Bearer \(acmeKey)' \\
                -H 'Content-Type: application/cloudevents+json' \\
                -d '{"specversion":"1.0","id":"order-1","source":"/shop","type":"OrderStarted","partitionkey":"order-1","data":{"orderId":1}}'
            Pull it (long-poll up to 5 s), then ack it with the deliveryId you got:
              curl -s -X POST \(base)/v1/tenants/acme/subscriptions/audit/pull -H 'Authorization: Bearer \(acmeKey)' \\
                -H 'Content-Type: application/json' -d '{"max":10,"waitMs":5000}'
              curl -s -X POST \(base)/v1/tenants/acme/subscriptions/audit/deliveries/<deliveryId>/ack -H 'Authorization: Bearer \(acmeKey)'
            Try acme's key on /v1/tenants/globex/...: 404, as for a tenant that does not exist.

            The shop (the product being customized): \(base)/shop/acme and \(base)/shop/globex
            Sign in there (the platform's login page, OAuth2 authorization code with PKCE) as:
            \(links.joined(separator: "\n"))
            Orders move Submitted → AwaitingValidation (after a 10 s grace period) → StockConfirmed → Paid
            through the bus; the admin user ships them from the Orders admin page.

            Ctrl-C stops the platform cleanly.

            """
        FileHandle.standardOutput.write(Data(guide.utf8))
    }
}
