import ArgumentParser
import BespokeBench
import Foundation

/// `bespoke bench gateway`.
struct BenchGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Requests/s and latency through the gateway against nginx as a plain reverse proxy, side by side (needs wrk and nginx).",
        discussion: "Build in release mode for meaningful figures: swift build -c release && .build/release/bespoke bench gateway"
    )

    @Option(help: "Seconds each wrk run lasts.") var seconds = 10
    @Option(help: "Connections of the full-speed runs.") var connections = 64

    func validate() throws {
        guard seconds >= 1, connections >= 1 else { throw ValidationError("seconds and connections must be at least 1") }
    }

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-bench-gateway-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = GatewayBenchmarkOptions(executable: URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path, directory: directory)
        options.seconds = seconds
        options.connections = connections
        try await GatewayBenchmark.run(options) { print($0) }
    }
}
