import BespokeCore
import BespokeSQLite
import BespokeStorage
import Foundation
import GRDB
import Logging

/// The physical floor of the store: batched inserts of rows the size of an event envelope
/// into a plain SQLite table, on the same disk with the same durability setting.
enum RawInsertBaseline {
    /// Rows per second.
    static func measure(path: String, rows: Int, rowBytes: Int, batch: Int, durability: SQLiteStore.Durability) throws -> Double {
        var configuration = Configuration()
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: "CREATE TABLE raw (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, payload BLOB NOT NULL)")
        }
        let payload = Data(repeating: 0x61, count: rowBytes)
        let start = monotonicNanos()
        var written = 0
        while written < rows {
            let count = min(batch, rows - written)
            try pool.write { db in
                let statement = try db.cachedStatement(sql: "INSERT INTO raw (tenant, payload) VALUES (?, ?)")
                for index in 0..<count {
                    try statement.execute(arguments: ["tenant-\(index % 4)", payload])
                }
            }
            written += count
        }
        let seconds = Double(monotonicNanos() - start) / 1e9
        try pool.close()
        return Double(rows) / seconds
    }

    /// The latency floor at a given rate, of plain rows: see ``paced(rate:seconds:maxBatch:timing:commit:)``.
    /// The database is opened as the bus's store opens its own, and checkpointed the same way,
    /// in the background (``SQLiteCheckpointer``), not in commits.
    static func pacedLatency(
        path: String, rate: Double, seconds: Double, maxBatch: Int, rowBytes: Int, durability: SQLiteStore.Durability, logger: Logger
    ) async throws -> (p50: Double, p99: Double, p999: Double) {
        let pool = try DatabasePool(path: path, configuration: SQLiteStore.connectionConfiguration(durability: durability))
        try await pool.write { db in
            try db.execute(sql: "CREATE TABLE raw (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, payload BLOB NOT NULL)")
        }
        let checkpointer = Task { try await SQLiteCheckpointer(path: path, logger: logger).run() }
        let payload = Data(repeating: 0x61, count: rowBytes)
        let latencies = try await paced(rate: rate, seconds: seconds, maxBatch: maxBatch) { rows in
            try await pool.write { db in
                let statement = try db.cachedStatement(sql: "INSERT INTO raw (tenant, payload) VALUES (?, ?)")
                for row in rows {
                    try statement.execute(arguments: ["tenant-\(row % 4)", payload])
                }
            }
        }
        checkpointer.cancel()
        try await checkpointer.value
        try pool.close()
        return latencies
    }

    /// The latency floor at a given rate of the bus's own store, without the bus: events of
    /// `envelope`'s size, of `tenants` in turn, published straight into the store's log
    /// (``SQLiteStore/apply(_:)``: the events table with its idempotency key and its per-tenant
    /// order), with the store's background checkpointer. With `measuring`, only that tenant's
    /// events are timed (a tenant named several times in `tenants` gets that share of the rate).
    static func pacedStoreLatency(
        path: String, rate: Double, seconds: Double, maxBatch: Int, envelope: Data, tenants: [TenantID], measuring: TenantID? = nil,
        durability: SQLiteStore.Durability, logger: Logger
    ) async throws -> (p50: Double, p99: Double, p999: Double) {
        precondition(!tenants.isEmpty, "the store's floor needs a tenant")
        let store = try SQLiteStore(path: path, durability: durability)
        for tenant in Set(tenants) {
            try await store.createTenant(TenantRecord(id: tenant, name: tenant.rawValue, createdAt: Date()))
        }
        let checkpointer = Task { try await SQLiteCheckpointer(store: store, logger: logger).run() }
        let run = monotonicNanos()
        let timed: @Sendable (Int) -> Bool = { row in measuring.map { tenants[row % tenants.count] == $0 } ?? true }
        let latencies = try await paced(rate: rate, seconds: seconds, maxBatch: maxBatch, timing: timed) { rows in
            _ = try await store.apply(rows.map { row in
                .publish(EventToStore(
                    tenant: tenants[row % tenants.count], eventID: "e-\(run)-\(row)", source: "/bench", type: "BenchEvent",
                    partitionKey: nil, envelope: envelope
                ))
            })
        }
        checkpointer.cancel()
        try await checkpointer.value
        try store.close()
        return latencies
    }

    /// Rows fall due at `rate` per second for `seconds`, and one writer commits, again and
    /// again, every row due so far, at most `maxBatch` in one transaction (`commit`), as the
    /// bus's group committer does: a group commit with no bus around it. A row's latency runs
    /// from when it fell due to the end of the commit that stored it, as the bus's
    /// publish-to-confirm does. Only rows `timed` accepts are timed.
    private static func paced(
        rate: Double, seconds: Double, maxBatch: Int, timing timed: (Int) -> Bool = { _ in true },
        commit: (Range<Int>) async throws -> Void
    ) async throws -> (p50: Double, p99: Double, p999: Double) {
        precondition(rate > 0 && rate.isFinite && maxBatch > 0, "a paced floor needs a positive rate and batch")
        let total = max(1, Int(rate * seconds))
        let latencies = LatencyRecorder()
        let start = monotonicNanos()
        func due(_ row: Int) -> UInt64 { start + UInt64(Double(row) / rate * 1e9) }
        var written = 0
        while written < total {
            let now = monotonicNanos()
            if due(written) > now {
                try await Task.sleep(for: .nanoseconds(Int64(due(written) - now)))
                continue
            }
            var through = written
            let last = min(total, written + maxBatch)
            while through < last, due(through) <= now { through += 1 }
            let rows = written..<through
            try await commit(rows)
            let committed = monotonicNanos()
            for row in rows where timed(row) { latencies.record(committed - due(row)) }
            written = through
        }
        return latencies.percentiles()
    }
}
