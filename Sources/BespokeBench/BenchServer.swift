import BespokeCore
import BespokeSQLite
import BespokeServer
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// What every benchmark's platform shares: a configuration over its own directory (free port,
/// quiet logs, a throwaway admin token), and serving it on loopback.
enum BenchServer {
    static func configuration(directory: String, durability: SQLiteStore.Durability) throws -> (BespokeConfiguration, Logger) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = BespokeConfiguration()
        configuration.dataDirectory = directory
        configuration.durability = durability
        configuration.port = 0
        // The benchmarks measure capacity: no tenant is held to a publish quota.
        configuration.bus.publishQuota = nil
        configuration.logLevel = .error
        configuration.adminToken = "bench-admin-token-" + SecureRandom.hex(8)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return (configuration, logger)
    }

    /// Serves the platform on a free loopback port. - Returns: the port, and the task to cancel
    /// to stop it.
    static func serve(_ platform: BespokePlatform, _ configuration: BespokeConfiguration, logger: Logger) async throws -> (port: Int, server: Task<Void, any Error>) {
        try await run { try await buildApplication(configuration, platform: platform, logger: logger, onServerRunning: $0) }
    }

    /// Runs an application in a task. - Returns: its port once it listens, and the task, whose
    /// cancellation shuts the application down gracefully (cancelling a Hummingbird server
    /// outright makes it log errors about its closed channel).
    /// - Throws: when it stops before it listens (its port is taken, say).
    static func run<App: ApplicationProtocol>(
        _ build: (_ onServerRunning: @escaping @Sendable (Int) async -> Void) async throws -> App
    ) async throws -> (port: Int, server: Task<Void, any Error>) {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = try await build { continuation.yield($0) }
        let group = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [], logger: application.logger)
        )
        // Not a child of `server`: cancelling `server` must not cancel the group.
        let running = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        let server = Task {
            try await withTaskCancellationHandler {
                try await running.value
            } onCancel: {
                Task { await group.triggerGracefulShutdown() }
            }
        }
        for await port in ports { return (port, server) }
        _ = try await server.value
        throw BenchFailure("the server stopped before it listened")
    }
}
