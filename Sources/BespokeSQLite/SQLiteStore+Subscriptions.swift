import BespokeCore
import BespokeStorage
import Foundation
import GRDB

extension SQLiteStore: SubscriptionStore {
    public func createSubscription(_ new: NewSubscription, at date: Date) async throws -> Subscription {
        let types = String(decoding: try JSONEncoder().encode(new.filter), as: UTF8.self)
        return try await Self.mapConflict("subscription '\(new.name)'") {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO subscriptions
                            (tenant_id, name, types, max_attempts, initial_backoff_ms, max_backoff_ms, ack_timeout_ms, created_at, cursor)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) FROM events))
                        """,
                    arguments: [
                        new.tenant.rawValue, new.name, types, new.policy.maxAttempts,
                        new.policy.initialBackoff.wholeMilliseconds, new.policy.maxBackoff.wholeMilliseconds,
                        new.policy.ackTimeout.wholeMilliseconds, date.timeIntervalSince1970,
                    ]
                )
                let id = db.lastInsertedRowID
                // A new subscription receives what is published from now on.
                let cursor = try Int64.fetchOne(db, sql: "SELECT cursor FROM subscriptions WHERE id = ?", arguments: [id]) ?? 0
                return Subscription(
                    id: SubscriptionID(id), tenant: new.tenant, name: new.name,
                    filter: new.filter, policy: new.policy, createdAt: date, cursor: cursor
                )
            }
        }
    }

    public func subscription(tenant: TenantID, name: String) async throws -> Subscription? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM subscriptions WHERE tenant_id = ? AND name = ?", arguments: [tenant.rawValue, name]
            ).map(Self.subscription)
        }
    }

    public func subscriptions(tenant: TenantID) async throws -> [Subscription] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM subscriptions WHERE tenant_id = ? ORDER BY name", arguments: [tenant.rawValue])
                .map(Self.subscription)
        }
    }

    public func deleteSubscription(tenant: TenantID, name: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM subscriptions WHERE tenant_id = ? AND name = ?", arguments: [tenant.rawValue, name])
            return db.changesCount > 0
        }
    }

    public func allSubscriptions() async throws -> [Subscription] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM subscriptions ORDER BY id").map(Self.subscription)
        }
    }

    static func subscription(_ row: Row) throws -> Subscription {
        let types: String = row["types"]
        return Subscription(
            id: SubscriptionID(row["id"]),
            tenant: TenantID(trusted: row["tenant_id"]),
            name: row["name"],
            filter: try JSONDecoder().decode(EventTypeFilter.self, from: Data(types.utf8)),
            policy: DeliveryPolicy(
                maxAttempts: row["max_attempts"],
                initialBackoff: .milliseconds(row["initial_backoff_ms"] as Int64),
                maxBackoff: .milliseconds(row["max_backoff_ms"] as Int64),
                ackTimeout: .milliseconds(row["ack_timeout_ms"] as Int64)
            ),
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            cursor: row["cursor"]
        )
    }
}
