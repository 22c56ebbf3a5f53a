import ArgumentParser
import BespokeBench
import BespokeSQLite
import Foundation

/// `bespoke bench bus`.
struct BenchBusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Bus throughput and publish-to-deliver latency against a raw SQLite baseline, and fairness under a flooding tenant.",
        discussion: "Build in release mode for meaningful figures: swift run -c release bespoke bench bus"
    )

    @Option(help: "Tenants publishing in the throughput phases.") var tenants = 4
    @Option(help: "Subscriptions per tenant, each with an in-process consumer.") var subscriptions = 2
    @Option(help: "Events published in the peak phase (and rows in the raw baseline).") var events = 40_000
    @Option(help: "Payload bytes per event.") var payloadBytes = 256
    @Option(help: "Concurrent publishers per tenant in the peak phase (one commit serves at most this many per tenant).")
    var publishers = 128
    @Option(help: "Concurrent publishers of the flooding tenant in the fairness phase.") var floodPublishers = 32
    @Option(help: "Most writes one commit carries (the bus's maxBatchWrites, and the raw baseline's batch).")
    var maxBatchWrites = 512
    @Option(help: "Events per publish call in the saturating phases.") var batch = 1
    @Option(help: "Seconds of each paced phase.") var seconds = 5.0
    @Option(help: "Publishers per tenant in the paced phases, each sending its share on a schedule.") var pacedPublishers = 64
    @Option(help: "Events/s of the victim tenant in the fairness phase.") var victimRate = 500.0
    @Option(help: "Per-tenant publish quota (events/s) of the fairness phase's second flood.") var floodQuota = 5000.0
    @OptionGroup var storage: BenchStorageOptions

    func validate() throws {
        guard floodQuota >= 1, floodQuota.isFinite else { throw ValidationError("--flood-quota must be at least 1 event/s") }
        guard pacedPublishers >= 1 else { throw ValidationError("--paced-publishers must be at least 1") }
        guard victimRate > 0, victimRate.isFinite else { throw ValidationError("--victim-rate must be above 0") }
        guard tenants >= 1, subscriptions >= 1, events >= 1 else { throw ValidationError("--tenants, --subscriptions and --events must be at least 1") }
        guard maxBatchWrites >= 1 else { throw ValidationError("--max-batch-writes must be at least 1") }
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be above 0") }
    }

    func run() async throws {
        try await storage.withStorage { durability, directory in
            var options = BusBenchmarkOptions(directory: directory)
            options.tenants = tenants
            options.subscriptionsPerTenant = subscriptions
            options.events = events
            options.payloadBytes = payloadBytes
            options.publishersPerTenant = publishers
            options.publishBatch = batch
            options.pacedSeconds = seconds
            options.pacedPublishers = pacedPublishers
            options.victimRate = victimRate
            options.durability = durability
            options.floodPublishers = floodPublishers
            options.maxBatchWrites = maxBatchWrites
            options.floodQuota = floodQuota
            try await BusBenchmark.run(options) { print($0) }
        }
    }
}
