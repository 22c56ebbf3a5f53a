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
        case .publish(let event, let subscriptions):
            return try publish(event, to: subscriptions, db: db, now: now)

        case .ack(let tenant, let subscription, let delivery):
            try db.cachedStatement(sql: "DELETE FROM deliveries WHERE id = ? AND tenant_id = ? AND subscription_id = ?")
                .execute(arguments: [delivery.rawValue, tenant.rawValue, subscription.rawValue])
            return db.changesCount > 0 ? .applied : .notFound

        case .retry(let tenant, let subscription, let delivery, let attempts, let notBefore, let error):
            try db.cachedStatement(
                sql: """
                    UPDATE deliveries SET attempts = ?, not_before = ?, last_error = ?
                    WHERE id = ? AND tenant_id = ? AND subscription_id = ?
                    """
            ).execute(arguments: [
                attempts, notBefore.timeIntervalSince1970, error, delivery.rawValue, tenant.rawValue, subscription.rawValue,
            ])
            return db.changesCount > 0 ? .applied : .notFound

        case .deadLetter(let tenant, let subscription, let delivery, let attempts, let reason):
            try db.cachedStatement(
                sql: """
                    INSERT INTO dead_letters (tenant_id, subscription_id, event_seq, attempts, reason, failed_at)
                    SELECT tenant_id, subscription_id, event_seq, ?, ?, ? FROM deliveries
                    WHERE id = ? AND tenant_id = ? AND subscription_id = ?
                    """
            ).execute(arguments: [
                attempts, reason, now.timeIntervalSince1970, delivery.rawValue, tenant.rawValue, subscription.rawValue,
            ])
            guard db.changesCount > 0 else { return .notFound }
            try db.cachedStatement(sql: "DELETE FROM deliveries WHERE id = ?").execute(arguments: [delivery.rawValue])
            return .applied

        case .redrive(let tenant, let subscription, let deadLetter):
            guard
                let seq = try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT event_seq FROM dead_letters WHERE id = ? AND tenant_id = ? AND subscription_id = ?"),
                    arguments: [deadLetter.rawValue, tenant.rawValue, subscription.rawValue]
                )
            else { return .notFound }
            try db.cachedStatement(sql: "DELETE FROM dead_letters WHERE id = ?").execute(arguments: [deadLetter.rawValue])
            try db.cachedStatement(
                sql: "INSERT INTO deliveries (tenant_id, subscription_id, event_seq, attempts) VALUES (?, ?, ?, 0)"
            ).execute(arguments: [tenant.rawValue, subscription.rawValue, seq])
            let id = db.lastInsertedRowID
            guard let row = try Row.fetchOne(db.cachedStatement(sql: deliveryQuery + " WHERE d.id = ?"), arguments: [id]) else {
                return .notFound
            }
            return .redriven(delivery(row))
        }
    }

    private static func publish(_ event: EventToStore, to subscriptions: [SubscriptionID], db: Database, now: Date) throws -> BusWriteResult {
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
            return .published(seq: row["seq"], storedAt: Date(timeIntervalSince1970: row["stored_at"]), duplicate: true, deliveries: [])
        }
        let seq = db.lastInsertedRowID
        var deliveries: [Delivery] = []
        deliveries.reserveCapacity(subscriptions.count)
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (tenant_id, subscription_id, event_seq, attempts)
                SELECT ?, ?, ?, 0 WHERE EXISTS (SELECT 1 FROM subscriptions WHERE id = ? AND tenant_id = ?)
                """
        )
        for subscription in subscriptions {
            try insert.execute(arguments: [
                event.tenant.rawValue, subscription.rawValue, seq, subscription.rawValue, event.tenant.rawValue,
            ])
            // A subscription deleted concurrently gets no delivery.
            guard db.changesCount > 0 else { continue }
            deliveries.append(
                Delivery(
                    id: DeliveryID(db.lastInsertedRowID), tenant: event.tenant, subscription: subscription, eventSeq: seq,
                    eventID: event.eventID, source: event.source, type: event.type, partitionKey: event.partitionKey, attempts: 0,
                    notBefore: nil, lastError: nil, storedAt: now, envelope: event.envelope
                )
            )
        }
        return .published(seq: seq, storedAt: now, duplicate: false, deliveries: deliveries)
    }

    public func pendingDeliveries(tenant: TenantID, subscription: SubscriptionID, after: DeliveryID?, limit: Int) async throws -> [Delivery] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: Self.deliveryQuery + " WHERE d.tenant_id = ? AND d.subscription_id = ? AND d.id > ? ORDER BY d.id LIMIT ?"
                ),
                arguments: [tenant.rawValue, subscription.rawValue, after?.rawValue ?? 0, limit]
            ).map(Self.delivery)
        }
    }

    public func pendingCount(tenant: TenantID, subscription: SubscriptionID) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM deliveries WHERE tenant_id = ? AND subscription_id = ?",
                arguments: [tenant.rawValue, subscription.rawValue]
            ) ?? 0
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

    private static let deliveryQuery = """
        SELECT d.id, d.tenant_id, d.subscription_id, d.event_seq, d.attempts, d.not_before, d.last_error,
               e.event_id, e.source, e.type, e.partition_key, e.stored_at, e.envelope
        FROM deliveries d JOIN events e ON e.seq = d.event_seq
        """

    private static func delivery(_ row: Row) -> Delivery {
        Delivery(
            id: DeliveryID(row["id"]), tenant: TenantID(trusted: row["tenant_id"]),
            subscription: SubscriptionID(row["subscription_id"]), eventSeq: row["event_seq"], eventID: row["event_id"],
            source: row["source"], type: row["type"], partitionKey: row["partition_key"], attempts: row["attempts"],
            notBefore: date(row["not_before"]), lastError: row["last_error"],
            storedAt: Date(timeIntervalSince1970: row["stored_at"]), envelope: row["envelope"]
        )
    }
}
