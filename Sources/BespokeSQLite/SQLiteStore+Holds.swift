import BespokeCore
import BespokeStorage
import Foundation
import GRDB

extension SQLiteStore: HoldStore {
    public func hold(tenant: TenantID, id: Int64) async throws -> Hold? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM holds WHERE id = ? AND tenant_id = ?", arguments: [id, tenant.rawValue])
                .map(Self.hold)
        }
    }

    public func holds(tenant: TenantID, states: [HoldState], limit: Int) async throws -> [Hold] {
        guard !states.isEmpty else { return [] }
        return try await pool.read { db in
            let marks = Array(repeating: "?", count: states.count).joined(separator: ", ")
            var arguments: StatementArguments = [tenant.rawValue]
            for state in states { _ = arguments.append(contentsOf: [state.rawValue]) }
            _ = arguments.append(contentsOf: [limit])
            return try Row.fetchAll(
                db, sql: "SELECT * FROM holds WHERE tenant_id = ? AND state IN (\(marks)) ORDER BY id LIMIT ?", arguments: arguments
            ).map(Self.hold)
        }
    }

    public func activeHolds() async throws -> [Hold] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM holds WHERE state IN ('held', 'waiting') ORDER BY id").map(Self.hold)
        }
    }

    public func deleteClosedHolds(closedBefore date: Date, limit: Int) async throws -> Int {
        try await pool.write { db in
            try db.execute(
                sql: """
                    DELETE FROM holds WHERE id IN (
                        SELECT id FROM holds WHERE closed_at IS NOT NULL AND closed_at < ? ORDER BY closed_at LIMIT ?)
                    """,
                arguments: [date.timeIntervalSince1970, limit]
            )
            return db.changesCount
        }
    }

    // MARK: Writes, inside ``apply(_:)``'s transaction

    static func admit(_ event: EventToStore, intercept: HoldStage?, db: Database, now: Date) throws -> BusWriteResult {
        let identity: StatementArguments = [event.tenant.rawValue, event.source, event.eventID]
        if let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT seq, stored_at FROM events WHERE tenant_id = ? AND source = ? AND event_id = ?"),
            arguments: identity
        ) {
            return .published(seq: row["seq"], storedAt: Date(timeIntervalSince1970: row["stored_at"]), duplicate: true)
        }
        if let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM holds WHERE tenant_id = ? AND source = ? AND event_id = ?"), arguments: identity
        ) {
            return .held(hold(row), duplicate: true)
        }
        let queued = try event.partitionKey.map { key in
            try Bool.fetchOne(
                db.cachedStatement(
                    sql: "SELECT 1 FROM holds WHERE tenant_id = ? AND partition_key = ? AND state IN ('held', 'waiting') LIMIT 1"
                ),
                arguments: [event.tenant.rawValue, key]
            ) ?? false
        } ?? false
        guard queued || intercept != nil else { return try publish(event, db: db, now: now) }
        let stage = queued ? nil : intercept
        try db.cachedStatement(
            sql: """
                INSERT INTO holds (tenant_id, source, event_id, type, partition_key, envelope, state, customization_id,
                                   deadline, on_deadline, passed, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?)
                """
        ).execute(arguments: [
            event.tenant.rawValue, event.source, event.eventID, event.type, event.partitionKey, event.envelope,
            (stage == nil ? HoldState.waiting : .held).rawValue, stage?.customization, stage?.deadline.timeIntervalSince1970,
            stage?.onDeadline.rawValue, now.timeIntervalSince1970,
        ])
        let created = Hold(
            id: db.lastInsertedRowID, tenant: event.tenant, eventID: event.eventID, source: event.source, type: event.type,
            partitionKey: event.partitionKey, envelope: event.envelope, state: stage == nil ? .waiting : .held, stage: stage,
            passed: [], pushedAt: nil, reason: nil, createdAt: now
        )
        return .held(created, duplicate: false)
    }

    static func advanceHold(tenant: TenantID, id: Int64, step: Int, to stage: HoldStage, envelope: Data, db: Database) throws
        -> BusWriteResult
    {
        guard var hold = try activeHold(tenant: tenant, id: id, db: db), hold.step == step else { return .notFound }
        if let current = hold.stage?.customization { hold.passed.append(current) }
        hold.stage = stage
        hold.state = .held
        hold.envelope = envelope
        hold.pushedAt = nil
        try db.cachedStatement(
            sql: """
                UPDATE holds SET state = 'held', customization_id = ?, deadline = ?, on_deadline = ?, passed = ?,
                                 envelope = ?, pushed_at = NULL
                WHERE id = ?
                """
        ).execute(arguments: [
            stage.customization, stage.deadline.timeIntervalSince1970, stage.onDeadline.rawValue, try encode(hold.passed),
            envelope, id,
        ])
        return .held(hold, duplicate: false)
    }

    static func releaseHold(tenant: TenantID, id: Int64, step: Int, envelope: Data, db: Database, now: Date) throws -> BusWriteResult {
        guard var hold = try activeHold(tenant: tenant, id: id, db: db), hold.step == step else { return .notFound }
        hold.envelope = envelope
        let event = hold.eventToStore()
        try db.cachedStatement(sql: "DELETE FROM holds WHERE id = ?").execute(arguments: [id])
        guard case .published(let seq, let storedAt, _) = try publish(event, db: db, now: now) else {
            throw BespokeError(.storageFailure, "releasing hold \(id) stored no event")
        }
        return .released(event, seq: seq, storedAt: storedAt, next: try nextWaiting(hold, db: db))
    }

    static func closeHold(tenant: TenantID, id: Int64, step: Int, state: HoldState, reason: String, db: Database, now: Date) throws
        -> BusWriteResult
    {
        guard !state.isActive, var hold = try activeHold(tenant: tenant, id: id, db: db), hold.step == step else { return .notFound }
        hold.state = state
        hold.reason = reason
        try db.cachedStatement(sql: "UPDATE holds SET state = ?, reason = ?, closed_at = ? WHERE id = ?")
            .execute(arguments: [state.rawValue, reason, now.timeIntervalSince1970, id])
        return .closed(hold, next: try nextWaiting(hold, db: db))
    }

    /// The hold queued first behind `hold` on its partition key.
    private static func nextWaiting(_ hold: Hold, db: Database) throws -> Hold? {
        guard let key = hold.partitionKey else { return nil }
        return try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT * FROM holds WHERE tenant_id = ? AND partition_key = ? AND state IN ('held', 'waiting')
                    ORDER BY id LIMIT 1
                    """
            ),
            arguments: [hold.tenant.rawValue, key]
        ).map(Self.hold).flatMap { $0.state == .waiting ? $0 : nil }
    }

    static func activeHold(tenant: TenantID, id: Int64, db: Database) throws -> Hold? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM holds WHERE id = ? AND tenant_id = ? AND state IN ('held', 'waiting')"),
            arguments: [id, tenant.rawValue]
        ).map(Self.hold)
    }

    static func hold(_ row: Row) -> Hold {
        let customization: String? = row["customization_id"]
        let deadline: Double? = row["deadline"]
        let onDeadline: String? = row["on_deadline"]
        var stage: HoldStage?
        if let customization, let deadline {
            stage = HoldStage(
                customization: customization, deadline: Date(timeIntervalSince1970: deadline),
                onDeadline: onDeadline.flatMap(HoldOutcome.init(rawValue:)) ?? .resume
            )
        }
        let passedText: String = row["passed"]
        return Hold(
            id: row["id"], tenant: TenantID(trusted: row["tenant_id"]), eventID: row["event_id"], source: row["source"],
            type: row["type"], partitionKey: row["partition_key"], envelope: row["envelope"],
            state: HoldState(rawValue: row["state"]) ?? .held, stage: stage,
            passed: (try? JSONDecoder().decode([String].self, from: Data(passedText.utf8))) ?? [],
            pushedAt: date(row["pushed_at"]), reason: row["reason"], createdAt: Date(timeIntervalSince1970: row["created_at"])
        )
    }

    static func encode(_ strings: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(strings), as: UTF8.self)
    }
}
