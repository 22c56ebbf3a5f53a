import BespokeCore
import BespokeStorage
import Foundation
import GRDB

extension SQLiteStore: TenantStore {
    public func createTenant(_ tenant: TenantRecord) async throws {
        try await Self.mapConflict("tenant '\(tenant.id)'") {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                    arguments: [tenant.id.rawValue, tenant.name, tenant.createdAt.timeIntervalSince1970]
                )
            }
        }
    }

    public func tenant(_ id: TenantID) async throws -> TenantRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tenants WHERE id = ?", arguments: [id.rawValue]).map(Self.tenantRecord)
        }
    }

    public func listTenants() async throws -> [TenantRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tenants ORDER BY id").map(Self.tenantRecord)
        }
    }

    public func setSuspended(_ id: TenantID, at date: Date?) async throws -> Bool {
        try await pool.write { db in
            if let date {
                try db.execute(
                    sql: "UPDATE tenants SET suspended_at = coalesce(suspended_at, ?) WHERE id = ?",
                    arguments: [date.timeIntervalSince1970, id.rawValue]
                )
            } else {
                try db.execute(sql: "UPDATE tenants SET suspended_at = NULL WHERE id = ?", arguments: [id.rawValue])
            }
            return db.changesCount > 0
        }
    }

    /// Child tables first, so the counts are this tenant's rows and no cascade is relied on.
    static let tenantTables = [
        "delivery_attempts", "delivery_failures", "redeliveries", "dead_letters", "holds", "customizations", "inbox",
        "subscriptions", "events", "api_keys",
        "refresh_tokens", "authorization_codes", "oauth_clients", "users",
    ]

    public func purgeTenant(_ id: TenantID) async throws -> TenantPurge? {
        try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM tenants WHERE id = ?", arguments: [id.rawValue]) != nil else { return nil }
            var rows: [String: Int] = [:]
            for table in Self.tenantTables {
                try db.execute(sql: "DELETE FROM \(table) WHERE tenant_id = ?", arguments: [id.rawValue])
                rows[table] = db.changesCount
            }
            try db.execute(sql: "DELETE FROM tenants WHERE id = ?", arguments: [id.rawValue])
            rows["tenants"] = db.changesCount
            return TenantPurge(rowsByTable: rows)
        }
    }

    static func tenantRecord(_ row: Row) -> TenantRecord {
        TenantRecord(
            id: TenantID(trusted: row["id"]), name: row["name"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
            suspendedAt: date(row["suspended_at"])
        )
    }
}

extension SQLiteStore: APIKeyStore {
    public func insertAPIKey(_ key: APIKeyRecord) async throws {
        try await Self.mapConflict("API key") {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO api_keys (id, tenant_id, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        key.id, key.tenant.rawValue, key.secretHash, key.createdAt.timeIntervalSince1970,
                        key.revokedAt?.timeIntervalSince1970,
                    ]
                )
            }
        }
    }

    public func apiKey(secretHash: String) async throws -> APIKeyRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE secret_hash = ?", arguments: [secretHash])
                .map(Self.apiKeyRecord)
        }
    }

    public func apiKeys(tenant: TenantID) async throws -> [APIKeyRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at", arguments: [tenant.rawValue])
                .map(Self.apiKeyRecord)
        }
    }

    public func revokeAPIKey(tenant: TenantID, id: String, at date: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE tenant_id = ? AND id = ?",
                arguments: [date.timeIntervalSince1970, tenant.rawValue, id]
            )
            return db.changesCount > 0
        }
    }

    private static func apiKeyRecord(_ row: Row) -> APIKeyRecord {
        APIKeyRecord(
            id: row["id"],
            tenant: TenantID(trusted: row["tenant_id"]),
            secretHash: row["secret_hash"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            revokedAt: date(row["revoked_at"])
        )
    }
}

extension SQLiteStore: InboxStore {
    public func markProcessed(tenant: TenantID, consumer: String, eventKey: String, at date: Date) async throws -> Bool {
        try await pool.write { db in
            try Self.markProcessed(db, tenant: tenant, consumer: consumer, eventKey: eventKey, at: date)
        }
    }

    public func isProcessed(tenant: TenantID, consumer: String, eventKey: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(
                db,
                sql: "SELECT 1 FROM inbox WHERE tenant_id = ? AND consumer = ? AND event_key = ?",
                arguments: [tenant.rawValue, consumer, eventKey]
            ) ?? false
        }
    }

    public func deleteProcessed(before date: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        return try await pool.write { db in try SQLiteInbox.deleteProcessed(db, before: date, limit: limit) }
    }

    static func markProcessed(_ db: Database, tenant: TenantID, consumer: String, eventKey: String, at date: Date) throws -> Bool {
        try db.execute(
            sql: "INSERT INTO inbox (tenant_id, consumer, event_key, processed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            arguments: [tenant.rawValue, consumer, eventKey, date.timeIntervalSince1970]
        )
        return db.changesCount > 0
    }
}
