public import BespokeCore
import Foundation
public import GRDB

/// Exactly-once effects for a consumer whose own state lives in SQLite: the effect and the
/// inbox record commit in one transaction, so a redelivered event (at-least-once) is skipped
/// and a crash between effect and record cannot happen.
public struct SQLiteInbox: Sendable {
    public let pool: DatabasePool
    public let consumer: String

    /// - Parameters:
    ///   - pool: the consumer's database; it must hold the `inbox` table (any ``SQLiteStore`` does).
    ///   - consumer: a stable name of the consuming service.
    public init(pool: DatabasePool, consumer: String) {
        self.pool = pool
        self.consumer = consumer
    }

    /// Runs `effect` unless this consumer already processed `eventKey` for `tenant`.
    /// - Returns: `true` when the effect ran, `false` for a duplicate.
    @discardableResult
    public func process(
        tenant: TenantID,
        eventKey: String,
        _ effect: @escaping @Sendable (Database) throws -> Void
    ) async throws -> Bool {
        let consumer = self.consumer
        return try await pool.write { db in
            guard try SQLiteStore.markProcessed(db, tenant: tenant, consumer: consumer, eventKey: eventKey, at: Date()) else {
                return false
            }
            try effect(db)
            return true
        }
    }

    /// Forgets up to `limit` of the records made before `date` in the database of `db`, of
    /// every consumer and tenant, oldest first; returns how many it forgot.
    static func deleteProcessed(_ db: Database, before date: Date, limit: Int) throws -> Int {
        try db.execute(
            sql: """
                DELETE FROM inbox WHERE (tenant_id, consumer, event_key) IN (
                    SELECT tenant_id, consumer, event_key FROM inbox WHERE processed_at < ? ORDER BY processed_at LIMIT ?)
                """,
            arguments: [date.timeIntervalSince1970, limit]
        )
        return db.changesCount
    }
}
