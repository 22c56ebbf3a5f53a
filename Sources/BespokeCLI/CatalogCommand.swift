import ArgumentParser
import Foundation

/// `bespoke catalog`: the product's event catalog, through the admin API.
struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Manage the product's event catalog (admin API; the admin token from BESPOKE_ADMIN_TOKEN or --data-dir).",
        subcommands: [List.self, Show.self, Put.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the event types in the catalog.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await client.admin().print(.GET, "/v1/admin/catalog")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one event type.")
        @Argument(help: "The event type.") var type: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await client.admin().print(.GET, "/v1/admin/catalog/\(pathSegment(type))")
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or replace an event type.")
        @Argument(help: "The event type.") var type: String
        @Option(help: "JSON Schema of the event's data: inline JSON, or @path to a file.") var schema: String
        @Option(help: "What the event means.") var summary: String = ""
        @Flag(help: "Tenants may intercept it.") var interceptable = false
        @Option(name: .customLong("mutable-field"), help: "A data member a tenant may change when it resumes the event (repeatable).")
        var mutableFields: [String] = []
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let text = schema.hasPrefix("@") ? try String(contentsOfFile: String(schema.dropFirst()), encoding: .utf8) : schema
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else {
                throw ValidationError("--schema is not valid JSON")
            }
            try await client.admin().print(
                .PUT, "/v1/admin/catalog/\(pathSegment(type))",
                json: ["summary": summary, "schema": parsed, "interceptable": interceptable, "mutableFields": mutableFields]
            )
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an event type (registrations for it stay).")
        @Argument(help: "The event type.") var type: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await client.admin().call(.DELETE, "/v1/admin/catalog/\(pathSegment(type))")
            print("deleted \(type)")
        }
    }
}
