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
    @Option(help: "Observed events pushed in the deliveries phase.") var deliveries = 60_000
    @Option(help: "Tenants with one observer endpoint each.") var observerTenants = 4
    @Option(help: "Pushes in flight per endpoint.") var endpointConcurrency = 16
    @Option(help: "Payload bytes per event.") var payloadBytes = 256
    @Option(help: "Seconds wrk runs against the receiver.") var wrkSeconds = 5
    @Flag(help: "Run the deliveries phase's receiver in this process instead of a process of its own.")
    var receiverInProcess = false
    @OptionGroup var storage: BenchStorageOptions

    func validate() throws {
        guard roundTrips >= 1 else { throw ValidationError("--round-trips must be at least 1") }
        guard observerTenants >= 1 else { throw ValidationError("--observer-tenants must be at least 1") }
        guard deliveries >= observerTenants else { throw ValidationError("--deliveries must be at least --observer-tenants (one each)") }
        guard endpointConcurrency >= 1 else { throw ValidationError("--endpoint-concurrency must be at least 1") }
        guard payloadBytes >= 0 else { throw ValidationError("--payload-bytes must not be negative") }
        guard wrkSeconds >= 1 else { throw ValidationError("--wrk-seconds must be at least 1") }
    }

    func run() async throws {
        try await storage.withStorage { durability, directory in
            var options = CustomizationBenchmarkOptions(directory: directory)
            options.roundTrips = roundTrips
            options.deliveries = deliveries
            options.observerTenants = observerTenants
            options.endpointConcurrency = endpointConcurrency
            options.payloadBytes = payloadBytes
            options.wrkSeconds = wrkSeconds
            options.durability = durability
            if !receiverInProcess {
                options.receiverExecutable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
            }
            try await CustomizationBenchmark.run(options) { print($0) }
        }
    }
}

/// `bespoke bench receiver`: the benchmark's fast endpoint as a process of its own.
struct BenchReceiverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receiver", abstract: "Serve the benchmark's fast receiver on a free loopback port.", shouldDisplay: false
    )

    @Option(name: .customLong("parent-pid"), help: "Stop when this process (the benchmark) is gone.") var parentPID: Int32?

    func run() async throws {
        // A benchmark that crashed or was killed does not leave its receiver running.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await BenchReceiver.serve() }
            if let parentPID {
                group.addTask { try await ParentWatch(parent: parentPID).run() }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
