import ArgumentParser
import BespokeAPI
import BespokeCore
import BespokeSQLite
import BespokeServer
import BespokeShop
import Foundation

/// `bespoke shop`: the main product's tenants.
struct ShopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shop",
        abstract: "Open tenants' shops and sign shoppers in.",
        subcommands: [Seed.self, SignInLink.self]
    )

    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a demo tenant with a shop and a catalog in one go.",
            discussion: """
                Works on the data directory, also before the server first starts. A tenant that does
                not exist yet is created and its first API key printed (shown once); an existing one
                keeps its keys. Products the shop already has are kept as they are.
                """
        )

        @Argument(help: "Tenant id: 1-63 characters of a-z, 0-9 and '-'.") var tenant: String
        @Option(help: "The shop's name. Default: the tenant id.") var name: String?
        @Option(help: "The shop's colour, #rrggbb.") var colour: String = "#2f6f4f"
        @Option(help: "What the simulated payment provider does: succeed or fail.") var payment: String = "succeed"
        @OptionGroup var options: ServerOptions

        func run() async throws {
            guard let outcome = ShopSettings.PaymentOutcome(rawValue: payment) else {
                throw ValidationError("payment must be 'succeed' or 'fail'")
            }
            let configuration = try options.configuration()
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            let store = try SQLiteStore(path: configuration.databasePath, durability: configuration.durability)
            let id = try TenantID(validating: tenant)
            if try await store.tenant(id) == nil {
                let created = try await TenantOnboarding.createTenant(id: tenant, name: name, tenants: store, keys: store)
                print("tenant:     \(created.tenant.id) (created)")
                print("api key:    \(created.secret)")
            } else {
                print("tenant:     \(id) (exists; its keys are unchanged)")
            }
            let database = try ShopDatabase(path: configuration.shopDatabasePath, durability: configuration.durability)
            let added = try await ShopSeed.seed(
                ShopSettings(tenant: id, name: name ?? tenant, colour: colour, paymentOutcome: outcome), in: database
            )
            print("products:   \(added) added")
            print("storefront: http://\(configuration.host):\(configuration.port)/shop/\(id)")
        }
    }

    struct SignInLink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-in-link",
            abstract: "Print a single-use storefront sign-in link for a buyer (the tenant's key from BESPOKE_API_KEY)."
        )
        @Argument(help: "Tenant id.") var tenant: String
        @Argument(help: "The buyer to sign in.") var buyer: String
        @Flag(help: "Sign in as the shop's admin (sees and ships every order).") var admin = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = APIClient(baseURL: client.baseURL, token: try client.tenantKey())
            let answer = try await api.call(
                .POST, "/v1/tenants/\(pathSegment(tenant))/shop/sign-in-links", json: ["buyer": buyer, "role": admin ? "admin" : "shopper"]
            )
            guard let path = (answer as? [String: Any])?["path"] as? String else { throw CLIError("the server did not answer a link") }
            print(client.baseURL + path)
        }
    }
}
