import BespokeCore
import BespokeStorage
import Foundation
public import GRDB

/// The embedded default store: one SQLite database in WAL mode, accessed through GRDB.
///
/// Writes are serialised by SQLite; the bus batches them (``EventLogStore/apply(_:)``) so that one
/// transaction, and one fsync, serves many publishers and consumers. Reads run concurrently on
/// the pool's reader connections.
public final class SQLiteStore: Sendable {
    /// How hard SQLite works to make a commit durable.
    public enum Durability: String, Sendable, CaseIterable {
        /// `synchronous=FULL`: the WAL is fsynced on every commit; a committed event survives a
        /// power loss. The default.
        case full
        /// `synchronous=NORMAL`: a committed event survives a process crash but the last
        /// commits may be lost on power loss or an OS crash.
        case normal
    }

    /// The pool; exposed for same-database effects (see ``SQLiteInbox``) and benchmarks.
    public let pool: DatabasePool
    public let path: String

    /// Opens (and migrates) the database at `path`, creating it if needed.
    public init(path: String, durability: Durability = .full) throws {
        var configuration = Self.connectionConfiguration(durability: durability)
        configuration.foreignKeysEnabled = true
        self.pool = try DatabasePool(path: path, configuration: configuration)
        self.path = path
        try Self.migrator.migrate(pool)
    }

    /// Closes the database. Later calls fail.
    public func close() throws {
        try pool.close()
    }

    /// How the store's connections wait for locks, sync commits and checkpoint: `durability`'s
    /// `synchronous` mode, short busy waits, and checkpoints left to ``SQLiteCheckpointer`` (the
    /// benchmarks' baselines open their databases the same way).
    public static func connectionConfiguration(durability: Durability) -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .shortSteps(timeout: .seconds(10))
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // Checkpoints are the job of `SQLiteCheckpointer`, off the commit path; this bound only
            // keeps the WAL from growing without end where that service does not run.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.safetyCheckpointPages)")
        }
        return configuration
    }

    /// WAL pages (4 KiB) after which a commit checkpoints by itself: about 64 MiB.
    static let safetyCheckpointPages = 16_384

    static func date(_ value: Double?) -> Date? {
        value.map { Date(timeIntervalSince1970: $0) }
    }

    /// Maps constraint violations to a `conflict`, everything else is rethrown.
    static func mapConflict<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw BespokeError(.conflict, "\(what) already exists")
        }
    }
}
