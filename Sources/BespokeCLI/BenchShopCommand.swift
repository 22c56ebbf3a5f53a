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
    @Option(help: "full or normal.") var durability = "full"
    @Option(name: .customLong("data-dir"), help: "Where the benchmark databases go (default: a temporary directory, removed after).")
    var dataDirectory: String?

    func run() async throws {
        guard let durability = SQLiteStore.Durability(rawValue: durability) else {
            throw ValidationError("durability must be 'full' or 'normal'")
        }
        let directory = dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-bench-\(UUID().uuidString)").path
        var options = ShopBenchmarkOptions(directory: directory)
        options.orders = orders
        options.tenants = tenants
        options.shoppers = shoppers
        options.gracePeriod = .milliseconds(gracePeriodMs)
        options.durability = durability
        try await ShopBenchmark.run(options) { print($0) }
        if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
    }
}
