import BespokeSQLite
import Foundation
import GRDB

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
}
