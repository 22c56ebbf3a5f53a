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
        discussion: """
            create and list work on the data directory (also before the server first starts); show,
            suspend, reinstate and delete go through a running server's admin API.
            """,
        subcommands: [Create.self, List.self, Show.self, Suspend.self, Reinstate.self, Delete.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a tenant, with counts of what it has.")
        @Argument(help: "Tenant id.") var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await client.admin().print(.GET, "/v1/admin/tenants/\(pathSegment(id))")
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Suspend a tenant: its keys are refused, its endpoints get no pushes; its data is kept."
        )
        @Argument(help: "Tenant id.") var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await client.admin()
                .print(.POST, "/v1/admin/tenants/\(pathSegment(id))/suspend")
        }
    }

    struct Reinstate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a tenant's suspension.")
        @Argument(help: "Tenant id.") var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await client.admin()
                .print(.POST, "/v1/admin/tenants/\(pathSegment(id))/reinstate")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a tenant and purge all its data. Cannot be undone.")
        @Argument(help: "Tenant id.") var id: String
        @Flag(help: "Confirm: every event, subscription, customization and key of the tenant is deleted.") var yes = false
        @OptionGroup var client: ClientOptions

        func validate() throws {
            guard yes else { throw ValidationError("deleting a tenant purges all its data; add --yes to confirm") }
        }

        func run() async throws {
            try await client.admin().print(.DELETE, "/v1/admin/tenants/\(pathSegment(id))")
        }
    }

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
