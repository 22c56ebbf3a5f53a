import BespokeCore
import BespokeSQLite
import BespokeServer
import Foundation
import Hummingbird
import Logging

/// What every benchmark's platform shares: a configuration over its own directory (free port,
/// quiet logs, a throwaway admin token), and serving it on loopback.
enum BenchServer {
    static func configuration(directory: String, durability: SQLiteStore.Durability) throws -> (BespokeConfiguration, Logger) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = BespokeConfiguration()
        configuration.dataDirectory = directory
        configuration.durability = durability
        configuration.port = 0
        configuration.logLevel = .error
        configuration.adminToken = "bench-admin-token-" + SecureRandom.hex(8)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return (configuration, logger)
    }

    /// Serves the platform on a free loopback port. - Returns: the port, and the task to cancel
    /// to stop it.
    static func serve(_ platform: BespokePlatform, _ configuration: BespokeConfiguration, logger: Logger) async throws -> (port: Int, server: Task<Void, any Error>) {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let application = try await buildApplication(configuration, platform: platform, logger: logger) { portContinuation.yield($0) }
        let server = Task { try await application.runService(gracefulShutdownSignals: []) }
        var port = 0
        for await value in ports {
            port = value
            break
        }
        return (port, server)
    }
}
