import Foundation
import GRDB

/// Tenant B's RFID service's own database: the orders it holds, each line's scanned tag,
/// which scans it has published, and which orders it has released.
struct ScanStore: Sendable {
    struct Line: Sendable, Equatable, Encodable {
        let productId: String
        let units: Int
        let tag: String?
    }

    struct HeldOrder: Sendable, Equatable {
        let orderId: String
        let buyer: String
        let hold: String
        let released: Bool
        let lines: [Line]

        var scanned: Int { lines.filter { $0.tag != nil }.count }
        var complete: Bool { !lines.isEmpty && scanned == lines.count }
    }

    struct Scan: Sendable, Equatable {
        let orderID: String
        let productID: String
        let tag: String
    }

    private let database: DatabasePool

    init(path: String) throws {
        database = try DatabasePool.serviceDatabase(path: path, migration: "v1-scans") { db in
            try db.execute(sql: """
                CREATE TABLE held_order (
                    order_id TEXT PRIMARY KEY,
                    buyer TEXT NOT NULL,
                    hold TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    released_at REAL
                );
                CREATE TABLE order_line (
                    order_id TEXT NOT NULL REFERENCES held_order(order_id),
                    product_id TEXT NOT NULL,
                    units INTEGER NOT NULL,
                    tag TEXT,
                    scanned_at REAL,
                    published INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (order_id, product_id)
                );
                """)
        }
    }

    /// Keeps an intercepted order. A push repeated with the same hold changes nothing; a new
    /// hold of the order (it was held again) replaces the old one and awaits release.
    func keep(orderID: String, buyer: String, hold: String, lines: [ShopLine]) async throws {
        let now = Date().timeIntervalSince1970
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO held_order (order_id, buyer, hold, received_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (order_id) DO UPDATE SET hold = excluded.hold, released_at = NULL
                    WHERE held_order.hold <> excluded.hold
                    """,
                arguments: [orderID, buyer, hold, now]
            )
            for line in lines {
                try db.execute(
                    sql: "INSERT INTO order_line (order_id, product_id, units) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    arguments: [orderID, line.productId, line.units]
                )
            }
        }
    }

    func order(_ id: String) async throws -> HeldOrder? {
        try await database.read { db in try Self.order(id, db) }
    }

    /// The most recent orders, those still waiting first.
    func orders(limit: Int = 50) async throws -> [HeldOrder] {
        try await database.read { db in
            let ids = try String.fetchAll(
                db, sql: "SELECT order_id FROM held_order ORDER BY released_at IS NOT NULL, received_at DESC LIMIT ?", arguments: [limit]
            )
            return try ids.compactMap { try Self.order($0, db) }
        }
    }

    /// Records a line's tag, once. - Returns: false when the order has no such line waiting
    /// for a scan (unknown, scanned already, or the order released).
    func scan(orderID: String, productID: String, tag: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE order_line SET tag = ?, scanned_at = ?, published = 0
                    WHERE order_id = ? AND product_id = ? AND tag IS NULL
                      AND (SELECT released_at FROM held_order WHERE order_id = ?) IS NULL
                    """,
                arguments: [tag, Date().timeIntervalSince1970, orderID, productID, orderID]
            )
            return db.changesCount > 0
        }
    }

    func unpublishedScans() async throws -> [Scan] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT order_id, product_id, tag FROM order_line WHERE tag IS NOT NULL AND published = 0")
                .map { Scan(orderID: $0["order_id"], productID: $0["product_id"], tag: $0["tag"]) }
        }
    }

    func markPublished(_ scan: Scan) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE order_line SET published = 1 WHERE order_id = ? AND product_id = ? AND tag = ?",
                arguments: [scan.orderID, scan.productID, scan.tag]
            )
        }
    }

    /// Orders whose every line is scanned and published, not yet released.
    func readyToRelease() async throws -> [HeldOrder] {
        try await database.read { db in
            let ids = try String.fetchAll(
                db,
                sql: """
                    SELECT o.order_id FROM held_order o WHERE o.released_at IS NULL
                      AND EXISTS (SELECT 1 FROM order_line l WHERE l.order_id = o.order_id)
                      AND NOT EXISTS (SELECT 1 FROM order_line l WHERE l.order_id = o.order_id AND (l.tag IS NULL OR l.published = 0))
                    """
            )
            return try ids.compactMap { try Self.order($0, db) }
        }
    }

    func markReleased(orderID: String, hold: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE held_order SET released_at = ? WHERE order_id = ? AND hold = ?",
                arguments: [Date().timeIntervalSince1970, orderID, hold]
            )
        }
    }

    private static func order(_ id: String, _ db: Database) throws -> HeldOrder? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM held_order WHERE order_id = ?", arguments: [id]) else { return nil }
        let lines = try Row.fetchAll(db, sql: "SELECT * FROM order_line WHERE order_id = ? ORDER BY product_id", arguments: [id]).map {
            Line(productId: $0["product_id"], units: $0["units"], tag: $0["tag"])
        }
        return HeldOrder(
            orderId: id, buyer: row["buyer"], hold: row["hold"], released: (row["released_at"] as Double?) != nil, lines: lines
        )
    }
}
