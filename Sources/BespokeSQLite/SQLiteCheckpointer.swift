import GRDB
public import Logging
import Metrics
public import ServiceLifecycle

/// Checkpoints the WAL in the background, on a connection of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, which
/// stalls that commit, and every publisher waiting on it, for the time it takes to copy the
/// WAL into the database and fsync it. A passive checkpoint from another connection does the
/// same work without blocking writers or readers. Under continuous writes a passive checkpoint
/// never finds the WAL fully copied, so the WAL would never start over and would grow without
/// end; once it passes `restartFrames`, a RESTART checkpoint copies the few frames left (writers
/// wait briefly) and lets the next commit start the WAL from the beginning.
public struct SQLiteCheckpointer: Service {
    let path: String
    let interval: Duration
    let restartFrames: Int
    let logger: Logger
    private let passiveTime = Timer(label: "bespoke_sqlite_checkpoint_passive_duration")
    private let restartTime = Timer(label: "bespoke_sqlite_checkpoint_restart_duration")

    /// - Parameters:
    ///   - store: the store whose database to checkpoint.
    ///   - interval: time between checkpoints.
    ///   - restartFrames: WAL frames (4 KiB pages) past which the WAL is restarted.
    public init(store: SQLiteStore, interval: Duration = .milliseconds(100), restartFrames: Int = 4096, logger: Logger) {
        self.init(path: store.path, interval: interval, restartFrames: restartFrames, logger: logger)
    }

    /// Checkpoints the WAL database at `path` (the benchmarks' raw baselines use this).
    public init(path: String, interval: Duration = .milliseconds(100), restartFrames: Int = 4096, logger: Logger) {
        self.path = path
        self.interval = interval
        self.restartFrames = restartFrames
        self.logger = logger
    }

    public func run() async throws {
        var configuration = Configuration()
        configuration.busyMode = .shortSteps(timeout: .seconds(5))
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            do {
                let (restart, passiveTime, restartTime) = (restartFrames, passiveTime, restartTime)
                try await connection.writeWithoutTransaction { db in
                    // Columns: busy, frames in the WAL, frames copied to the database.
                    let started = ContinuousClock.now
                    let passive = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
                    let restarting = ContinuousClock.now
                    passiveTime.record(duration: restarting - started)
                    if let frames: Int = passive?[1], frames > restart {
                        try db.execute(sql: "PRAGMA wal_checkpoint(RESTART)")
                        // Writers wait for this one: it is the checkpoint's share of a commit's tail.
                        restartTime.record(duration: ContinuousClock.now - restarting)
                    }
                }
            } catch is CancellationError {
                break
            } catch {
                logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
            }
        }
        try connection.close()
    }
}
