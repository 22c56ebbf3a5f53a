import ArgumentParser
import BespokeBench
import BespokeSQLite
import Foundation

/// `bespoke bench shop`.
struct BenchShopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shop",
        abstract: "Orders/s through the whole shop flow (checkout to Paid) over many tenants, and the checkout API's latency.",
        discussion: "Build in release mode for meaningful figures: swift run -c release bespoke bench shop"
    )

    @Option(help: "Orders placed in all.") var orders = 2000
    @Option(help: "Tenants, each with a shop.") var tenants = 20
    @Option(help: "Shoppers checking out at the same time.") var shoppers = 32
    @Option(help: "Grace period in milliseconds before validation.") var gracePeriodMs = 0
    @OptionGroup var storage: BenchStorageOptions

    func validate() throws {
        guard orders >= 1, tenants >= 1, shoppers >= 1 else { throw ValidationError("orders, tenants and shoppers must be at least 1") }
        guard gracePeriodMs >= 0 else { throw ValidationError("the grace period cannot be negative") }
    }

    func run() async throws {
        try await storage.withStorage { durability, directory in
            var options = ShopBenchmarkOptions(directory: directory)
            options.orders = orders
            options.tenants = tenants
            options.shoppers = shoppers
            options.gracePeriod = .milliseconds(gracePeriodMs)
            options.durability = durability
            try await ShopBenchmark.run(options) { print($0) }
        }
    }
}
