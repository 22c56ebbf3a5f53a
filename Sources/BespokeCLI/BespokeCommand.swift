import ArgumentParser

/// The `bespoke` command.
@main
struct BespokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bespoke",
        abstract: "Bespoke: customizable multi-tenant SaaS on a durable multi-tenant event bus.",
        subcommands: [
            ServeCommand.self, DemoCommand.self, TenantCommand.self, CatalogCommand.self, CustomizationCommand.self, ShopCommand.self, ScenarioCommand.self,
            BenchCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}
