import BespokeCore
import BespokeStorage
import Foundation
import GRDB

extension SQLiteStore: CatalogStore {
    public func putCatalogEntry(_ entry: CatalogEntry) async throws {
        let schema = String(decoding: try JSONEncoder().encode(entry.schema), as: UTF8.self)
        let fields = try Self.encode(entry.mutableFields)
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO event_catalog (type, summary, schema, interceptable, mutable_fields, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (type) DO UPDATE SET summary = excluded.summary, schema = excluded.schema,
                        interceptable = excluded.interceptable, mutable_fields = excluded.mutable_fields,
                        updated_at = excluded.updated_at
                    """,
                arguments: [entry.type, entry.summary, schema, entry.interceptable, fields, entry.updatedAt.timeIntervalSince1970]
            )
        }
    }

    public func catalogEntries() async throws -> [CatalogEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM event_catalog ORDER BY type").map(Self.catalogEntry)
        }
    }

    static func catalogEntry(_ row: Row) throws -> CatalogEntry {
        let schema: String = row["schema"]
        let fields: String = row["mutable_fields"]
        return CatalogEntry(
            type: row["type"], summary: row["summary"],
            schema: try JSONDecoder().decode(JSONValue.self, from: Data(schema.utf8)),
            interceptable: row["interceptable"],
            mutableFields: try JSONDecoder().decode([String].self, from: Data(fields.utf8)),
            updatedAt: Date(timeIntervalSince1970: row["updated_at"])
        )
    }

    public func deleteCatalogEntry(type: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM event_catalog WHERE type = ?", arguments: [type])
            return db.changesCount > 0
        }
    }
}

extension SQLiteStore: CustomizationStore {
    private struct StoredSecret: Codable {
        let secret: String
        let expiresAt: Double?
    }

    public func insertCustomization(_ customization: Customization) async throws {
        let arguments = try Self.arguments(customization)
        try await Self.mapConflict("customization '\(customization.id)'") {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO customizations (url, sort_order, timeout_ms, hold_deadline_ms, on_deadline, enabled,
                            disabled_reason, secrets, failing_since, filter, rate_limit, max_attempts, id, tenant_id, event_type, mode,
                            created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: arguments
                        + [customization.eventType, customization.mode.rawValue, customization.createdAt.timeIntervalSince1970]
                )
            }
        }
    }

    public func updateCustomization(_ customization: Customization) async throws -> Bool {
        let arguments = try Self.arguments(customization)
        return try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE customizations SET url = ?, sort_order = ?, timeout_ms = ?, hold_deadline_ms = ?, on_deadline = ?,
                        enabled = ?, disabled_reason = ?, secrets = ?, failing_since = ?, filter = ?, rate_limit = ?,
                        max_attempts = ?
                    WHERE id = ? AND tenant_id = ?
                    """,
                arguments: arguments
            )
            return db.changesCount > 0
        }
    }

    public func deleteCustomization(tenant: TenantID, id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM customizations WHERE id = ? AND tenant_id = ?", arguments: [id, tenant.rawValue])
            return db.changesCount > 0
        }
    }

    public func customizations(tenant: TenantID) async throws -> [Customization] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM customizations WHERE tenant_id = ? ORDER BY created_at, id", arguments: [tenant.rawValue])
                .map(Self.customization)
        }
    }

    public func allCustomizations() async throws -> [Customization] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM customizations ORDER BY tenant_id, created_at, id").map(Self.customization)
        }
    }

    public func setFailingSince(tenant: TenantID, id: String, since: Date?) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE customizations SET failing_since = ? WHERE id = ? AND tenant_id = ?",
                arguments: [since?.timeIntervalSince1970, id, tenant.rawValue]
            )
            return db.changesCount > 0
        }
    }

    public func configurationVersion() async throws -> Int64 {
        try await pool.read { db in try Self.configurationVersion(db) }
    }

    public func configurationSnapshot() async throws -> ConfigurationSnapshot {
        try await pool.read { db in
            ConfigurationSnapshot(
                version: try Self.configurationVersion(db),
                catalog: try Row.fetchAll(db, sql: "SELECT * FROM event_catalog ORDER BY type").map(Self.catalogEntry),
                customizations: try Row.fetchAll(db, sql: "SELECT * FROM customizations ORDER BY tenant_id, created_at, id")
                    .map(Self.customization),
                suspendedTenants: Set(
                    try String.fetchAll(db, sql: "SELECT id FROM tenants WHERE suspended_at IS NOT NULL").map(TenantID.init(trusted:))
                )
            )
        }
    }

    private static func configurationVersion(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT version FROM configuration_version WHERE id = 1") ?? 0
    }

    public func recordAttempts(_ attempts: [DeliveryAttempt]) async throws {
        guard !attempts.isEmpty else { return }
        try await pool.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO delivery_attempts (tenant_id, customization_id, message_id, event_id, attempted_at, status,
                        latency_us, error)
                    SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM customizations WHERE id = ?2 AND tenant_id = ?1)
                    """
            )
            for attempt in attempts {
                try statement.execute(arguments: [
                    attempt.tenant.rawValue, attempt.customization, attempt.messageID, attempt.eventID,
                    attempt.attemptedAt.timeIntervalSince1970, attempt.status, attempt.latency.wholeMicroseconds,
                    attempt.error,
                ])
            }
        }
    }

    public func deleteAttempts(madeBefore date: Date, limit: Int) async throws -> Int {
        try await pool.write { db in
            // By id, the order of recording (an attempt is recorded within a flush interval of
            // being made): the oldest `limit` rows, with no index on the time to keep up.
            try db.execute(
                sql: """
                    DELETE FROM delivery_attempts WHERE id IN (
                        SELECT id FROM (SELECT id, attempted_at FROM delivery_attempts ORDER BY id LIMIT ?) WHERE attempted_at < ?)
                    """,
                arguments: [limit, date.timeIntervalSince1970]
            )
            return db.changesCount
        }
    }

    public func deliveryAttempts(tenant: TenantID, customization: String, matching query: AttemptQuery) async throws -> AttemptPage {
        try await pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM customizations WHERE id = ? AND tenant_id = ?", arguments: [customization, tenant.rawValue]) == true
            else { return AttemptPage(attempts: [], next: nil) }
            let before = query.before ?? Int64.max
            // The first attempt past this page's look of `scanLimit` attempts down the
            // customization's index (nil when the look reaches the end). The look is read from
            // the index; of the rows past it, only this one.
            let beyond = try Row.fetchOne(
                db,
                sql: "SELECT id, attempted_at FROM delivery_attempts WHERE customization_id = ? AND id < ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                arguments: [customization, before, query.scanLimit]
            )
            var conditions = ["customization_id = ?", "tenant_id = ?", "id < ?"]
            var arguments: StatementArguments = [customization, tenant.rawValue, before]
            if let beyond {
                conditions.append("id > ?")
                arguments += [beyond["id"] as Int64]
            }
            if let since = query.since {
                conditions.append("attempted_at >= ?")
                arguments += [since.timeIntervalSince1970]
            }
            if let eventID = query.eventID {
                conditions.append("event_id = ?")
                arguments += [eventID]
            }
            if let messageID = query.messageID {
                conditions.append("message_id = ?")
                arguments += [messageID]
            }
            switch query.outcome {
            case .succeeded: conditions.append("status BETWEEN 200 AND 299")
            case .failed: conditions.append("(status IS NULL OR status NOT BETWEEN 200 AND 299)")
            case nil: break
            }
            arguments += [query.limit]
            let attempts = try Row.fetchAll(
                db,
                sql: "SELECT * FROM delivery_attempts WHERE \(conditions.joined(separator: " AND ")) ORDER BY id DESC LIMIT ?",
                arguments: arguments
            ).map(Self.attempt)
            if attempts.count == query.limit { return AttemptPage(attempts: attempts, next: attempts.last?.id) }
            guard let beyond else { return AttemptPage(attempts: attempts, next: nil) }
            // What is left was made before `beyond`, give or take how late an attempt can be
            // recorded: none of it matches once `beyond` is older than `since` by more.
            if let since = query.since, (beyond["attempted_at"] as Double) < since.timeIntervalSince1970 - AttemptQuery.recordingSlack {
                return AttemptPage(attempts: attempts, next: nil)
            }
            // The next page starts at `beyond` itself.
            return AttemptPage(attempts: attempts, next: (beyond["id"] as Int64) + 1)
        }
    }

    private static func attempt(_ row: Row) -> DeliveryAttempt {
        DeliveryAttempt(
            tenant: TenantID(trusted: row["tenant_id"]), customization: row["customization_id"],
            messageID: row["message_id"], eventID: row["event_id"],
            attemptedAt: Date(timeIntervalSince1970: row["attempted_at"]), status: row["status"],
            latency: .microseconds(row["latency_us"] as Int64), error: row["error"], id: row["id"]
        )
    }

    /// The mutable columns, then id and tenant (the `UPDATE`'s order; the `INSERT` follows it).
    private static func arguments(_ customization: Customization) throws -> StatementArguments {
        let secrets = try JSONEncoder().encode(
            customization.secrets.map { StoredSecret(secret: $0.secret, expiresAt: $0.expiresAt?.timeIntervalSince1970) }
        )
        return [
            customization.url, customization.order, customization.timeout.wholeMilliseconds,
            customization.holdDeadline.wholeMilliseconds, customization.onDeadline.rawValue, customization.enabled,
            customization.disabledReason, String(decoding: secrets, as: UTF8.self), customization.failingSince?.timeIntervalSince1970,
            customization.filter.map { filter in
                var text: [UInt8] = []
                filter.json.serialize(into: &text)
                return String(decoding: text, as: UTF8.self)
            },
            customization.rateLimit,
            customization.maxAttempts,
            customization.id,
            customization.tenant.rawValue,
        ]
    }

    static func customization(_ row: Row) throws -> Customization {
        let secrets: String = row["secrets"]
        return Customization(
            id: row["id"], tenant: TenantID(trusted: row["tenant_id"]), eventType: row["event_type"],
            mode: CustomizationMode(rawValue: row["mode"]) ?? .observe, url: row["url"], order: row["sort_order"],
            timeout: .milliseconds(row["timeout_ms"] as Int64), holdDeadline: .milliseconds(row["hold_deadline_ms"] as Int64),
            onDeadline: HoldOutcome(rawValue: row["on_deadline"]) ?? .resume, enabled: row["enabled"],
            disabledReason: row["disabled_reason"],
            secrets: try JSONDecoder().decode([StoredSecret].self, from: Data(secrets.utf8)).map {
                SigningSecret(secret: $0.secret, expiresAt: $0.expiresAt.map(Date.init(timeIntervalSince1970:)))
            },
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            failingSince: date(row["failing_since"]),
            filter: (row["filter"] as String?).map(storedFilter),
            rateLimit: row["rate_limit"],
            maxAttempts: row["max_attempts"]
        )
    }

    /// A stored filter. One that no longer reads (edited by hand, or past limits made
    /// stricter since) must not keep every other registration from loading: it reads as a
    /// filter that takes nothing, `{"any":[]}`, which the tenant sees and can replace.
    private static func storedFilter(_ text: String) -> EventFilter {
        (try? EventFilter(json: JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))) ?? .any([])
    }
}
