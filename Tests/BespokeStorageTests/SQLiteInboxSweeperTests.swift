import BespokeCore
import BespokeSQLite
import BespokeStorage
import Foundation
import GRDB
import Logging
import Testing

@Suite("SQLite inbox sweeper")
struct SQLiteInboxSweeperTests {
    let acme = TenantID(trusted: "acme")

    private func keys(_ pool: DatabasePool) async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT event_key FROM inbox ORDER BY event_key") }
    }

    @Test func forgetsEveryRecordPastTheRetentionABatchATransactionAndKeepsTheRest() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-inbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path, durability: .normal)
        try await store.createTenant(TenantRecord(id: acme, name: "Acme", createdAt: Date()))
        let now = Date()
        let day = 86_400.0
        for age in 40...44 {
            _ = try await store.markProcessed(tenant: acme, consumer: "ordering", eventKey: "old-\(age)", at: now.addingTimeInterval(-Double(age) * day))
        }
        _ = try await store.markProcessed(tenant: acme, consumer: "ordering", eventKey: "recent", at: now.addingTimeInterval(-29 * day))
        var logger = Logger(label: "inbox-sweeper-test")
        logger.logLevel = .critical
        let sweeper = SQLiteInboxSweeper(pool: store.pool, retention: .seconds(30 * 86_400), batch: 2, logger: logger)

        #expect(await sweeper.sweep(now: now) == 5)
        #expect(try await keys(store.pool) == ["recent"])
        #expect(await sweeper.sweep(now: now) == 0)
        // A day later the last one is past the retention too.
        #expect(await sweeper.sweep(now: now.addingTimeInterval(1.5 * day)) == 1)
        #expect(try await keys(store.pool).isEmpty)
    }
}
