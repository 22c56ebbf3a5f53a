import BespokeStorage
import Foundation
import GRDB

extension SQLiteStore {
    public func deleteSettledEvents(storedBefore date: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let cutoff = date.timeIntervalSince1970
        return try await pool.write { db in
            // Only the old part of the log is looked at, so a sweep costs what it deletes (and
            // the few events dead letters keep), not the length of the log.
            guard let lastOld = try Self.lastEvent(storedBefore: cutoff, db: db) else { return 0 }
            let tenants = try String.fetchAll(db, sql: "SELECT id FROM tenants ORDER BY id")
            let lowestCursor = try db.cachedStatement(sql: "SELECT min(cursor) FROM subscriptions WHERE tenant_id = ?")
            let delete = try db.cachedStatement(
                sql: """
                    DELETE FROM events WHERE seq IN (
                        SELECT e.seq FROM events e
                        WHERE e.tenant_id = ?1 AND e.seq <= ?2 AND e.stored_at < ?3
                          AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.event_seq = e.seq)
                          AND NOT EXISTS (SELECT 1 FROM redeliveries r WHERE r.event_seq = e.seq)
                        ORDER BY e.seq LIMIT ?4)
                    """
            )
            var deleted = 0
            for tenant in tenants where deleted < limit {
                // What every subscription of the tenant has settled; all of it without any.
                let settled = try Int64.fetchOne(lowestCursor, arguments: [tenant]) ?? Int64.max
                try delete.execute(arguments: [tenant, min(settled, lastOld), cutoff, limit - deleted])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    /// The position of the last event stored before `cutoff` (nil when there is none), found
    /// by bisecting the log: events are stored in time order, so the old ones are a prefix of
    /// it, and a few indexed reads find its end however long the log is. (Should the clock
    /// have stepped back, the deletion still checks each event's own time.)
    static func lastEvent(storedBefore cutoff: Double, db: Database) throws -> Int64? {
        guard let first = try Int64.fetchOne(db, sql: "SELECT min(seq) FROM events"),
            let last = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events")
        else { return nil }
        let probe = try db.cachedStatement(sql: "SELECT seq, stored_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1")
        // Every event before `low` is old; every event from `high` on is not.
        var low = first
        var high = last + 1
        while low < high {
            let middle = low + (high - low) / 2
            guard let row = try Row.fetchOne(probe, arguments: [middle]) else { break }
            let seq: Int64 = row[0]
            let storedAt: Double = row[1]
            if storedAt < cutoff { low = seq + 1 } else { high = middle }
        }
        return low > first ? low - 1 : nil
    }
}
