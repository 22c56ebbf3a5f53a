import ArgumentParser

/// `bespoke bench`: benchmarks that print figures.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run benchmarks and print their figures.",
        subcommands: [BenchBusCommand.self, BenchCustomizationCommand.self, BenchShopCommand.self, BenchGatewayCommand.self, BenchScenarioCommand.self, BenchReceiverCommand.self]
    )
}
