import ArgumentParser
import BespokeAPI
import BespokeSQLite
import BespokeServer
import Foundation

/// `bespoke tenant`: manage tenants in the data directory.
struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Manage tenants.",
        subcommands: [Create.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant and print its first API key (shown once).")

        @Argument(help: "Tenant id: 1-63 characters of a-z, 0-9 and '-'.")
        var id: String

        @Option(help: "Display name. Default: the id.")
        var name: String?

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let configuration = try options.configuration()
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            let store = try SQLiteStore(path: configuration.databasePath, durability: configuration.durability)
            let created = try await TenantOnboarding.createTenant(id: id, name: name, tenants: store, keys: store)
            print("tenant:  \(created.tenant.id)")
            print("key id:  \(created.keyID)")
            print("api key: \(created.secret)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let configuration = try options.configuration()
            let store = try SQLiteStore(path: configuration.databasePath, durability: configuration.durability)
            for tenant in try await store.listTenants() {
                print("\(tenant.id)\t\(tenant.name)")
            }
        }
    }
}
