import BespokeCore
import BespokeSQLite
import BespokeStorage
import Foundation
import GRDB
import Logging
import Testing

@Suite("SQLite checkpointer")
struct SQLiteCheckpointerTests {
    private func write(_ store: SQLiteStore, batches: Int, tenant: TenantID) async throws {
        let pad = String(repeating: "x", count: 2000)
        for batch in 0..<batches {
            let events = (0..<50).map { index in
                var event = CloudEvent(id: "e\(batch)-\(index)", source: "/t", type: "T", data: .string(pad))
                event.tenantID = tenant.rawValue
                return BusWrite.publish(EventToStore(event, tenant: tenant))
            }
            _ = try await store.apply(events)
        }
    }

    private func walFileBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int) ?? 0
    }

    /// Writes without a pause while the checkpointer runs: passive checkpoints alone never find
    /// the WAL fully copied then, so only the RESTART keeps the WAL file from growing.
    @Test func continuousWritesDoNotGrowTheWALWithoutEnd() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-ckpt-\(UUID().uuidString).sqlite").path
        let store = try SQLiteStore(path: path, durability: .normal)
        let tenant = TenantID(trusted: "acme")
        try await store.createTenant(TenantRecord(id: tenant, name: "Acme", createdAt: Date()))
        var logger = Logger(label: "checkpointer-test")
        logger.logLevel = .critical
        let checkpointer = Task {
            try await SQLiteCheckpointer(store: store, interval: .milliseconds(10), restartFrames: 256, logger: logger).run()
        }
        // About 24 MB of events, written back to back.
        try await write(store, batches: 240, tenant: tenant)
        checkpointer.cancel()
        try await checkpointer.value
        let walBytes = walFileBytes(path)
        #expect(walBytes > 0)
        // Without the RESTART the WAL holds every frame written (over 24 MB). With it the WAL
        // file stays near what is written between two checkpoints; a loaded machine (CI)
        // writes more in that time than an idle one, so the bound leaves room for that.
        #expect(walBytes < 8 * 1024 * 1024, "the WAL file grew to \(walBytes) bytes")
    }

    /// The checkpointer of a database by its path (the benchmarks' plain baselines): the same
    /// bound on the WAL of a database that is not a store.
    @Test func checkpointsAPlainDatabaseByPath() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-ckpt-plain-\(UUID().uuidString).sqlite").path
        var configuration = Configuration()
        configuration.busyMode = .shortSteps(timeout: .seconds(10))
        // No checkpoints in commits: the checkpointer alone keeps the WAL bounded.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try await pool.write { db in try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)") }
        var logger = Logger(label: "checkpointer-test")
        logger.logLevel = .critical
        let checkpointer = Task {
            try await SQLiteCheckpointer(path: path, interval: .milliseconds(10), restartFrames: 256, logger: logger).run()
        }
        let payload = Data(repeating: 0x61, count: 2000)
        // About 24 MB, written back to back.
        for _ in 0..<240 {
            try await pool.write { db in
                for _ in 0..<50 { try db.execute(sql: "INSERT INTO rows (payload) VALUES (?)", arguments: [payload]) }
            }
        }
        checkpointer.cancel()
        try await checkpointer.value
        // Read while the database is open: closing it may checkpoint and remove the WAL.
        let walBytes = walFileBytes(path)
        let rows = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM rows") }
        try pool.close()
        #expect(rows == 12_000)
        #expect(walBytes > 0)
        #expect(walBytes < 8 * 1024 * 1024, "the WAL file grew to \(walBytes) bytes")
    }
}
