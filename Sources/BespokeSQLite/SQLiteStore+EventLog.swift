import BespokeCore
import BespokeStorage
import Foundation
import GRDB

extension SQLiteStore: EventLogStore {
    public func apply(_ writes: [BusWrite]) async throws -> [BusWriteResult] {
        let now = Date()
        return try await pool.write { db in
            var results: [BusWriteResult] = []
            results.reserveCapacity(writes.count)
            for write in writes {
                results.append(try Self.apply(write, db: db, now: now))
            }
            return results
        }
    }

    private static func apply(_ write: BusWrite, db: Database, now: Date) throws -> BusWriteResult {
        switch write {
        case .publish(let event):
            return try publish(event, db: db, now: now)

        case .advanceCursor(let tenant, let subscription, let sequence):
            try db.cachedStatement(sql: "UPDATE subscriptions SET cursor = max(cursor, ?) WHERE id = ? AND tenant_id = ?")
                .execute(arguments: [sequence, subscription.rawValue, tenant.rawValue])
            guard db.changesCount > 0 else { return .notFound }
            try db.cachedStatement(sql: "DELETE FROM delivery_failures WHERE subscription_id = ? AND event_seq <= ?")
                .execute(arguments: [subscription.rawValue, sequence])
            return .applied

        case .recordFailure(let tenant, let subscription, let delivery, let attempts, let notBefore, let error):
            if delivery.isRedelivery {
                try db.cachedStatement(
                    sql: "UPDATE redeliveries SET attempts = ?, not_before = ?, last_error = ? WHERE id = ? AND tenant_id = ? AND subscription_id = ?"
                ).execute(arguments: [
                    attempts, notBefore.timeIntervalSince1970, error, -delivery.rawValue, tenant.rawValue, subscription.rawValue,
                ])
                return db.changesCount > 0 ? .applied : .notFound
            }
            guard try isPendingStreamEvent(delivery.rawValue, tenant: tenant, subscription: subscription, db: db) else { return .notFound }
            try db.cachedStatement(
                sql: """
                    INSERT INTO delivery_failures (tenant_id, subscription_id, event_seq, attempts, not_before, last_error)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (subscription_id, event_seq) DO UPDATE
                    SET attempts = excluded.attempts, not_before = excluded.not_before, last_error = excluded.last_error
                    """
            ).execute(arguments: [tenant.rawValue, subscription.rawValue, delivery.rawValue, attempts, notBefore.timeIntervalSince1970, error])
            return .applied

        case .deadLetter(let tenant, let subscription, let delivery, let attempts, let reason):
            let seq: Int64
            if delivery.isRedelivery {
                guard let found = try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT event_seq FROM redeliveries WHERE id = ? AND tenant_id = ? AND subscription_id = ?"),
                    arguments: [-delivery.rawValue, tenant.rawValue, subscription.rawValue]
                ) else { return .notFound }
                try db.cachedStatement(sql: "DELETE FROM redeliveries WHERE id = ?").execute(arguments: [-delivery.rawValue])
                seq = found
            } else {
                guard try isPendingStreamEvent(delivery.rawValue, tenant: tenant, subscription: subscription, db: db) else { return .notFound }
                try db.cachedStatement(sql: "DELETE FROM delivery_failures WHERE subscription_id = ? AND event_seq = ?")
                    .execute(arguments: [subscription.rawValue, delivery.rawValue])
                seq = delivery.rawValue
            }
            try db.cachedStatement(
                sql: "INSERT INTO dead_letters (tenant_id, subscription_id, event_seq, attempts, reason, failed_at) VALUES (?, ?, ?, ?, ?, ?)"
            ).execute(arguments: [tenant.rawValue, subscription.rawValue, seq, attempts, reason, now.timeIntervalSince1970])
            return .applied

        case .redrive(let tenant, let subscription, let deadLetter):
            guard
                let seq = try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT event_seq FROM dead_letters WHERE id = ? AND tenant_id = ? AND subscription_id = ?"),
                    arguments: [deadLetter.rawValue, tenant.rawValue, subscription.rawValue]
                )
            else { return .notFound }
            try db.cachedStatement(sql: "DELETE FROM dead_letters WHERE id = ?").execute(arguments: [deadLetter.rawValue])
            return try addRedelivery(tenant: tenant, subscription: subscription, seq: seq, db: db)

        case .replay(let tenant, let subscription, let seq):
            // The event must be the subscription's tenant's, like everything a write names.
            guard
                try Bool.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT 1 FROM events e JOIN subscriptions s ON s.tenant_id = e.tenant_id
                            WHERE e.seq = ? AND s.id = ? AND s.tenant_id = ?
                            """
                    ),
                    arguments: [seq, subscription.rawValue, tenant.rawValue]
                ) != nil
            else { return .notFound }
            return try addRedelivery(tenant: tenant, subscription: subscription, seq: seq, db: db)

        case .settleRedelivery(let tenant, let subscription, let delivery):
            guard delivery.isRedelivery else { return .notFound }
            try db.cachedStatement(sql: "DELETE FROM redeliveries WHERE id = ? AND tenant_id = ? AND subscription_id = ?")
                .execute(arguments: [-delivery.rawValue, tenant.rawValue, subscription.rawValue])
            return db.changesCount > 0 ? .applied : .notFound

        case .admit(let event, let intercept):
            return try admit(event, intercept: intercept, db: db, now: now)
        case .advanceHold(let tenant, let id, let step, let stage, let envelope):
            return try advanceHold(tenant: tenant, id: id, step: step, to: stage, envelope: envelope, db: db)
        case .releaseHold(let tenant, let id, let step, let envelope):
            return try releaseHold(tenant: tenant, id: id, step: step, envelope: envelope, db: db, now: now)
        case .closeHold(let tenant, let id, let step, let state, let reason):
            return try closeHold(tenant: tenant, id: id, step: step, state: state, reason: reason, db: db, now: now)
        case .markHoldPushed(let tenant, let id, let step):
            guard let hold = try activeHold(tenant: tenant, id: id, db: db), hold.state == .held, hold.step == step else { return .notFound }
            try db.cachedStatement(sql: "UPDATE holds SET pushed_at = ? WHERE id = ?").execute(arguments: [now.timeIntervalSince1970, id])
            return .applied
        }
    }

    /// Queues the event at `seq` for the subscription again, as a redelivery.
    private static func addRedelivery(tenant: TenantID, subscription: SubscriptionID, seq: Int64, db: Database) throws -> BusWriteResult {
        try db.cachedStatement(sql: "INSERT INTO redeliveries (tenant_id, subscription_id, event_seq) VALUES (?, ?, ?)")
            .execute(arguments: [tenant.rawValue, subscription.rawValue, seq])
        let id = db.lastInsertedRowID
        guard let row = try Row.fetchOne(db.cachedStatement(sql: redeliveryQuery + " WHERE r.id = ?"), arguments: [id]) else {
            return .notFound
        }
        return .redriven(redelivery(row))
    }

    /// Whether `seq` is an event of the subscription's tenant after its cursor.
    private static func isPendingStreamEvent(_ seq: Int64, tenant: TenantID, subscription: SubscriptionID, db: Database) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT 1 FROM events e JOIN subscriptions s ON s.tenant_id = e.tenant_id
                    WHERE e.seq = ? AND s.id = ? AND s.tenant_id = ? AND e.seq > s.cursor
                    """
            ),
            arguments: [seq, subscription.rawValue, tenant.rawValue]
        ) ?? false
    }

    static func publish(_ event: EventToStore, db: Database, now: Date) throws -> BusWriteResult {
        try db.cachedStatement(
            sql: """
                INSERT INTO events (tenant_id, source, event_id, type, partition_key, stored_at, envelope)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant_id, source, event_id) DO NOTHING
                """
        ).execute(arguments: [
            event.tenant.rawValue, event.source, event.eventID, event.type, event.partitionKey,
            now.timeIntervalSince1970, event.envelope,
        ])
        guard db.changesCount > 0 else {
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT seq, stored_at FROM events WHERE tenant_id = ? AND source = ? AND event_id = ?"),
                arguments: [event.tenant.rawValue, event.source, event.eventID]
            )
            guard let row else { throw BespokeError(.storageFailure, "event vanished during publish") }
            return .published(seq: row["seq"], storedAt: Date(timeIntervalSince1970: row["stored_at"]), duplicate: true)
        }
        return .published(seq: db.lastInsertedRowID, storedAt: now, duplicate: false)
    }

    public func pendingDeliveries(_ subscription: Subscription, after: Int64?, limit: Int) async throws -> DeliveryPage {
        try await pool.read { db in
            guard let cursor = try Int64.fetchOne(
                db, sql: "SELECT cursor FROM subscriptions WHERE id = ? AND tenant_id = ?",
                arguments: [subscription.id.rawValue, subscription.tenant.rawValue]
            ) else { return DeliveryPage(deliveries: [], scannedThrough: nil, exhausted: true) }
            var position = max(after ?? 0, cursor)
            var deliveries: [Delivery] = []
            let chunk = max(limit, 64)
            // Read the tenant's log in chunks; only the subscription's types become deliveries.
            // A bounded scan keeps one sparse subscription from holding the read (and the
            // refill loop) for long: the caller continues from `scannedThrough`.
            var chunksLeft = Self.maxRefillChunks
            // Events dead-lettered or redriven before the cursor passed them are not read again;
            // checked per row only when the subscription has any (the common case has none).
            let departed = try Bool.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT EXISTS (SELECT 1 FROM dead_letters WHERE subscription_id = ?1 AND event_seq > ?2)
                            OR EXISTS (SELECT 1 FROM redeliveries WHERE subscription_id = ?1 AND event_seq > ?2)
                        """
                ),
                arguments: [subscription.id.rawValue, position]
            ) ?? false
            let query = departed ? Self.streamQueryExcludingDeparted : Self.streamQuery
            while deliveries.count < limit, chunksLeft > 0 {
                chunksLeft -= 1
                // A cursor's rows are read straight off the statement; fetched (copied) rows
                // would be decoded through their values, several times the CPU of a refill.
                let rows = try Row.fetchCursor(
                    db.cachedStatement(sql: query),
                    arguments: [subscription.id.rawValue, subscription.tenant.rawValue, position, chunk]
                )
                var read = 0
                while let row = try rows.next() {
                    read += 1
                    let seq: Int64 = row[Self.streamColumns.event]
                    let type: String = row[Self.streamColumns.event + 4]
                    if subscription.filter.matches(type) {
                        deliveries.append(Self.delivery(row, id: .stream(seq), subscription: subscription.id, columns: Self.streamColumns))
                    }
                    position = seq
                    if deliveries.count == limit { break }
                }
                if read < chunk, deliveries.count < limit {
                    return DeliveryPage(deliveries: deliveries, scannedThrough: position, exhausted: true)
                }
            }
            return DeliveryPage(deliveries: deliveries, scannedThrough: position, exhausted: false)
        }
    }

    public func redeliveries(_ subscription: Subscription) async throws -> [Delivery] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: Self.redeliveryQuery + " WHERE r.subscription_id = ? AND r.tenant_id = ? ORDER BY r.id"),
                arguments: [subscription.id.rawValue, subscription.tenant.rawValue]
            ).map(Self.redelivery)
        }
    }

    public func pendingCount(_ subscription: Subscription, settledThrough: Int64?) async throws -> Int {
        try await pool.read { db in
            let redeliveries = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM redeliveries WHERE subscription_id = ? AND tenant_id = ?",
                arguments: [subscription.id.rawValue, subscription.tenant.rawValue]
            ) ?? 0
            let types = try String.fetchCursor(
                db,
                sql: """
                    SELECT e.type FROM events e JOIN subscriptions s ON s.tenant_id = e.tenant_id
                    WHERE s.id = ? AND s.tenant_id = ? AND e.tenant_id = ? AND e.seq > max(s.cursor, ?)
                      AND NOT EXISTS (SELECT 1 FROM dead_letters x WHERE x.subscription_id = s.id AND x.event_seq = e.seq)
                      AND NOT EXISTS (SELECT 1 FROM redeliveries r WHERE r.subscription_id = s.id AND r.event_seq = e.seq)
                    """,
                arguments: [
                    subscription.id.rawValue, subscription.tenant.rawValue, subscription.tenant.rawValue, settledThrough ?? 0,
                ]
            )
            var stream = 0
            while let type = try types.next() {
                if subscription.filter.matches(type) { stream += 1 }
            }
            return redeliveries + stream
        }
    }

    public func deadLetters(tenant: TenantID, subscription: SubscriptionID, after: DeadLetterID?, limit: Int) async throws -> [DeadLetter] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT x.id, x.tenant_id, x.subscription_id, x.event_seq, x.attempts, x.reason, x.failed_at,
                           e.event_id, e.type, e.envelope
                    FROM dead_letters x JOIN events e ON e.seq = x.event_seq
                    WHERE x.tenant_id = ? AND x.subscription_id = ? AND x.id > ?
                    ORDER BY x.id LIMIT ?
                    """,
                arguments: [tenant.rawValue, subscription.rawValue, after?.rawValue ?? 0, limit]
            ).map { row in
                DeadLetter(
                    id: DeadLetterID(row["id"]), tenant: TenantID(trusted: row["tenant_id"]),
                    subscription: SubscriptionID(row["subscription_id"]), eventSeq: row["event_seq"],
                    eventID: row["event_id"], type: row["type"], attempts: row["attempts"], reason: row["reason"],
                    failedAt: Date(timeIntervalSince1970: row["failed_at"]), envelope: row["envelope"]
                )
            }
        }
    }

    /// Where the event's columns and the failure's begin in the rows of a query: rows are read
    /// by position, as reading them by name costs more than the rest of a refill.
    private struct Columns {
        /// seq, tenant_id, event_id, source, type, partition_key, stored_at, envelope.
        let event: Int
        /// attempts, not_before, last_error.
        let failure: Int
    }

    private static let streamColumns = Columns(event: 0, failure: 8)

    private static let streamQuery = """
        SELECT e.seq, e.tenant_id, e.event_id, e.source, e.type, e.partition_key, e.stored_at, e.envelope,
               f.attempts, f.not_before, f.last_error
        FROM events e LEFT JOIN delivery_failures f ON f.subscription_id = ?1 AND f.event_seq = e.seq
        WHERE e.tenant_id = ?2 AND e.seq > ?3
        ORDER BY e.seq LIMIT ?4
        """

    private static let streamQueryExcludingDeparted = """
        SELECT e.seq, e.tenant_id, e.event_id, e.source, e.type, e.partition_key, e.stored_at, e.envelope,
               f.attempts, f.not_before, f.last_error
        FROM events e LEFT JOIN delivery_failures f ON f.subscription_id = ?1 AND f.event_seq = e.seq
        WHERE e.tenant_id = ?2 AND e.seq > ?3
          AND NOT EXISTS (SELECT 1 FROM dead_letters x WHERE x.subscription_id = ?1 AND x.event_seq = e.seq)
          AND NOT EXISTS (SELECT 1 FROM redeliveries r WHERE r.subscription_id = ?1 AND r.event_seq = e.seq)
        ORDER BY e.seq LIMIT ?4
        """

    /// Chunks of the log one refill reads at most.
    static let maxRefillChunks = 16

    private static let redeliveryQuery = """
        SELECT r.id AS redelivery_id, r.subscription_id, r.attempts, r.not_before, r.last_error,
               e.seq, e.tenant_id, e.event_id, e.source, e.type, e.partition_key, e.stored_at, e.envelope
        FROM redeliveries r JOIN events e ON e.seq = r.event_seq
        """

    private static let redeliveryColumns = Columns(event: 5, failure: 2)

    private static func redelivery(_ row: Row) -> Delivery {
        delivery(row, id: .redelivery(row[0]), subscription: SubscriptionID(row[1]), columns: redeliveryColumns)
    }

    private static func delivery(_ row: Row, id: DeliveryID, subscription: SubscriptionID, columns: Columns) -> Delivery {
        let event = columns.event
        let failure = columns.failure
        return Delivery(
            id: id, tenant: TenantID(trusted: row[event + 1]), subscription: subscription, eventSeq: row[event],
            eventID: row[event + 2], source: row[event + 3], type: row[event + 4], partitionKey: row[event + 5],
            attempts: row[failure] ?? 0, notBefore: date(row[failure + 1]), lastError: row[failure + 2],
            storedAt: Date(timeIntervalSince1970: row[event + 6]), envelope: row[event + 7]
        )
    }
}
