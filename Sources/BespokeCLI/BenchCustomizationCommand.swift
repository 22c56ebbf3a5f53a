import ArgumentParser
import BespokeBench
import BespokeSQLite
import Foundation

/// `bespoke bench customization`.
struct BenchCustomizationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customization",
        abstract: "Intercept-to-resume round trip latency, and signed webhook deliveries/s next to wrk against the same receiver.",
        discussion: "Build in release mode for meaningful figures: swift run -c release bespoke bench customization"
    )

    @Option(help: "Sequential intercept-to-resume round trips measured.") var roundTrips = 2000
    @Option(help: "Observed events pushed in the deliveries phase.") var deliveries = 20_000
    @Option(help: "Tenants with one observer endpoint each.") var observerTenants = 4
    @Option(help: "Pushes in flight per endpoint.") var endpointConcurrency = 16
    @Option(help: "Payload bytes per event.") var payloadBytes = 256
    @Option(help: "Seconds wrk runs against the receiver.") var wrkSeconds = 5
    @Option(help: "full or normal.") var durability = "full"
    @Option(name: .customLong("data-dir"), help: "Where the benchmark database goes (default: a temporary directory, removed after).")
    var dataDirectory: String?

    func run() async throws {
        guard let durability = SQLiteStore.Durability(rawValue: durability) else {
            throw ValidationError("durability must be 'full' or 'normal'")
        }
        let directory = dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-bench-\(UUID().uuidString)").path
        var options = CustomizationBenchmarkOptions(directory: directory)
        options.roundTrips = roundTrips
        options.deliveries = deliveries
        options.observerTenants = observerTenants
        options.endpointConcurrency = endpointConcurrency
        options.payloadBytes = payloadBytes
        options.wrkSeconds = wrkSeconds
        options.durability = durability
        try await CustomizationBenchmark.run(options) { print($0) }
        if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
    }
}
