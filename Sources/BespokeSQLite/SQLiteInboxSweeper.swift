import BespokeCore
import Foundation
public import GRDB
public import Logging
import Metrics
public import ServiceLifecycle

/// Forgets the inbox records of a database (see ``SQLiteInbox``) once they are older than
/// their retention: at start, then every `interval`, `batch` records a transaction so that
/// the consumers' own commits never wait long behind a sweep.
///
/// A record only has to outlast the redeliveries of its event (an ack lost, a lease expired,
/// a retry: within an ack timeout and a retry delay of the effect, 36 hours at most with the
/// bus's largest policy); past its retention a redelivered event would run its effect again.
public struct SQLiteInboxSweeper: Service {
    let pool: DatabasePool
    let retention: Duration
    let interval: Duration
    let batch: Int
    let logger: Logger

    /// - Parameters:
    ///   - pool: the consumer's database, holding the `inbox` table.
    ///   - retention: how long a record is kept after its effect committed.
    ///   - interval: time between sweeps (at least 10 ms).
    ///   - batch: records deleted a transaction (at least 1).
    public init(pool: DatabasePool, retention: Duration, interval: Duration = .seconds(60), batch: Int = 250, logger: Logger) {
        self.pool = pool
        self.retention = retention
        self.interval = max(interval, .milliseconds(10))
        self.batch = max(1, batch)
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweep()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Deletes every record made before `now` minus the retention, a batch a transaction, and
    /// returns how many it deleted.
    @discardableResult
    public func sweep(now: Date = Date()) async -> Int {
        let cutoff = now.addingTimeInterval(-retention.seconds)
        let batch = self.batch
        var deleted = 0
        do {
            while !Task.isCancelled {
                let step = try await pool.write { db in try SQLiteInbox.deleteProcessed(db, before: cutoff, limit: batch) }
                deleted += step
                if step < batch { break }
            }
        } catch {
            logger.warning("deleting inbox records past their retention failed", metadata: ["error": "\(error)"])
        }
        if deleted > 0 {
            Counter(label: "bespoke_inbox_records_expired_total").increment(by: deleted)
            logger.info("inbox records past their retention deleted", metadata: ["count": "\(deleted)"])
        }
        return deleted
    }
}
