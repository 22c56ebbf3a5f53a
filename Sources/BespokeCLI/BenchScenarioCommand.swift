import ArgumentParser
import BespokeBench
import Foundation

/// `bespoke bench scenario`.
struct BenchScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario",
        abstract: "Tenant A's shipping customization done the event way and the synchronous way: API calls per order, added checkout latency.",
        discussion: "Build in release mode for meaningful figures: swift run -c release bespoke bench scenario"
    )

    @Option(help: "Orders placed for each way.") var orders = 200
    @Option(help: "Shoppers checking out at the same time.") var shoppers = 4
    @Option(name: .customLong("shipper-latency-ms"), help: "The shipping company's delay.") var shipperLatency = 120
    @OptionGroup var storage: BenchStorageOptions

    func validate() throws {
        guard orders >= 1, shoppers >= 1 else { throw ValidationError("orders and shoppers must be at least 1") }
        guard shipperLatency >= 0 else { throw ValidationError("the shipper's latency cannot be negative") }
    }

    func run() async throws {
        try await storage.withStorage { durability, directory in
            var options = ScenarioBenchmarkOptions(directory: directory)
            options.orders = orders
            options.shoppers = shoppers
            options.shipperLatency = .milliseconds(shipperLatency)
            options.durability = durability
            try await ScenarioBenchmark.run(options) { print($0) }
        }
    }
}
