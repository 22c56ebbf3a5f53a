import BespokeStorage
import Foundation
import GRDB

extension SQLiteStore {
    public func deleteSettledEvents(storedBefore date: Date, after position: Int64?, limit: Int) async throws -> EventDeletion {
        guard limit > 0 else { return EventDeletion(deleted: 0, resumeAfter: nil) }
        let budget = limit
        let cutoff = date.timeIntervalSince1970
        let start = position ?? 0
        // Looking is a read, beside the bus's commits: only what is deleted takes the write
        // lock. The old part of the log is read in log order, `budget` events a step, so a step
        // costs the same however long the log; deleting contiguous events dirties few pages.
        let step = try await pool.read { db -> (candidates: [Int64], resumeAfter: Int64?) in
            guard let lastOld = try Self.lastEvent(storedBefore: cutoff, db: db), lastOld > start else { return ([], nil) }
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT seq, tenant_id, stored_at FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"),
                arguments: [start, lastOld, budget]
            )
            let lowestCursor = try db.cachedStatement(sql: "SELECT min(cursor) FROM subscriptions WHERE tenant_id = ?")
            let referenced = try db.cachedStatement(sql: Self.referencedQuery)
            // What every subscription of a tenant has settled; all of its log without any.
            var settled: [String: Int64] = [:]
            var candidates: [Int64] = []
            var last = start
            for row in rows {
                let seq: Int64 = row[0]
                let tenant: String = row[1]
                let storedAt: Double = row[2]
                last = seq
                let bound: Int64
                if let known = settled[tenant] {
                    bound = known
                } else {
                    bound = try Int64.fetchOne(lowestCursor, arguments: [tenant]) ?? Int64.max
                    settled[tenant] = bound
                }
                // Events dead letters or redeliveries keep are left out here already, so a step
                // that finds only those takes no write lock.
                if seq <= bound, storedAt < cutoff, try Bool.fetchOne(referenced, arguments: [seq]) != true { candidates.append(seq) }
            }
            let done = rows.count < budget || last >= lastOld
            return (candidates, done ? nil : last)
        }
        guard !step.candidates.isEmpty else { return EventDeletion(deleted: 0, resumeAfter: step.resumeAfter) }
        let deleted = try await pool.write { db in
            // Settled stays settled (cursors only move forward; a new subscription starts at the
            // log's end), but a replay may have made a redelivery of one since the read.
            let referenced = try db.cachedStatement(sql: Self.referencedQuery)
            let delete = try db.cachedStatement(sql: "DELETE FROM events WHERE seq = ?")
            var deleted = 0
            for seq in step.candidates where try Bool.fetchOne(referenced, arguments: [seq]) != true {
                try delete.execute(arguments: [seq])
                deleted += db.changesCount
            }
            return deleted
        }
        return EventDeletion(deleted: deleted, resumeAfter: step.resumeAfter)
    }

    /// Whether a dead letter or a redelivery refers to the event `?1`.
    private static let referencedQuery =
        "SELECT EXISTS (SELECT 1 FROM dead_letters WHERE event_seq = ?1) OR EXISTS (SELECT 1 FROM redeliveries WHERE event_seq = ?1)"

    public func subscriptionsHoldingBack(storedBefore date: Date) async throws -> [Subscription] {
        let cutoff = date.timeIntervalSince1970
        return try await pool.read { db in
            guard let lastOld = try Self.lastEvent(storedBefore: cutoff, db: db) else { return [] }
            // Two seeks a subscription: its tenant's first event after its cursor, and its first
            // redelivery of an old event.
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM subscriptions s
                    WHERE EXISTS (
                            SELECT 1 FROM events e WHERE e.tenant_id = s.tenant_id AND e.seq > s.cursor AND e.seq <= ?1 AND e.stored_at < ?2)
                        OR EXISTS (SELECT 1 FROM redeliveries r WHERE r.subscription_id = s.id AND r.event_seq <= ?1)
                    ORDER BY s.tenant_id, s.name
                    """,
                arguments: [lastOld, cutoff]
            ).map(Self.subscription)
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
