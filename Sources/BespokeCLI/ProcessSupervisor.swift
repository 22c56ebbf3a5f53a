import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs child processes and starts each again when it dies (after 0.25 s, doubling to at most
/// 10 s while it keeps dying young). At graceful shutdown it sends each child SIGTERM and, if
/// it is still there 5 s later, SIGKILL.
///
/// A child's output goes to its log file; its process id is kept in its pid file while it runs.
struct ProcessSupervisor: Service {
    struct Child: Sendable {
        let name: String
        let executable: String
        let arguments: [String]
        /// Added to this process's environment, of which the child gets all but `BESPOKE_*`.
        let environment: [String: String]
        let logPath: String
        let pidPath: String
    }

    let children: [Child]
    let logger: Logger

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for child in children {
                group.addTask { await supervise(child) }
            }
        }
    }

    private func supervise(_ child: Child) async {
        var quickFailures = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let started = ContinuousClock.now
            let status: Int32
            do {
                status = try await runOnce(child)
            } catch {
                logger.error("cannot start \(child.name)", metadata: ["error": "\(error)"])
                status = -1
            }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            quickFailures = ContinuousClock.now - started > .seconds(30) ? 1 : quickFailures + 1
            let delay = min(Duration.milliseconds(250) * (1 << min(quickFailures - 1, 6)), .seconds(10))
            logger.warning("\(child.name) exited; starting it again", metadata: ["status": "\(status)", "in": "\(delay)"])
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
        }
    }

    /// Starts the child and waits until it exits; at graceful shutdown, stops it.
    /// - Returns: its exit status.
    private func runOnce(_ child: Child) async throws -> Int32 {
        // Appended to, so what a child wrote before it died is still there after its restart.
        if !FileManager.default.fileExists(atPath: child.logPath) {
            _ = FileManager.default.createFile(atPath: child.logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: child.logPath))
        try log.seekToEnd()
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: child.executable)
        process.arguments = child.arguments
        // The platform's own settings and secrets (the admin token) stay with the platform.
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BESPOKE_") }
        process.environment = inherited.merging(child.environment) { $1 }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        let (exits, exited) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { process in
            exited.yield(process.terminationStatus)
            exited.finish()
        }
        try process.run()
        let pid = process.processIdentifier
        if !FileManager.default.createFile(atPath: child.pidPath, contents: Data("\(pid)\n".utf8)) {
            logger.warning("could not write a pid file", metadata: ["child": "\(child.name)", "path": "\(child.pidPath)"])
        }
        defer { try? FileManager.default.removeItem(atPath: child.pidPath) }
        logger.info("started \(child.name)", metadata: ["pid": "\(pid)"])

        return await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await status in exits { return status }
                return -1
            }
            group.addTask {
                // Wait for shutdown (cancelled once the child exits by itself), then stop it.
                guard (try? await gracefulShutdown()) != nil else { return nil }
                kill(pid, SIGTERM)
                guard (try? await Task.sleep(for: .seconds(5))) != nil else { return nil }
                kill(pid, SIGKILL)
                return nil
            }
            var status: Int32 = -1
            while let next = await group.next() {
                if let next {
                    status = next
                    group.cancelAll()
                }
            }
            return status
        }
    }
}
