public import Logging
public import ServiceLifecycle

/// Keeps the in-memory ``CustomizationIndex`` in step with changes other processes make to
/// the store (another node, or the `bespoke` command on the same data directory): it polls the
/// store's configuration version, one small read, and reloads the index when it moved.
public struct CustomizationIndexSync: Service {
    let manager: TenantManager
    let logger: Logger

    public init(manager: TenantManager, logger: Logger) {
        self.manager = manager
        self.logger = logger
    }

    public func run() async throws {
        let interval = manager.configuration.indexSyncInterval
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    if try await manager.synchronize() {
                        logger.debug("customization index reloaded after a change elsewhere")
                    }
                } catch {
                    logger.warning("polling for configuration changes failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
