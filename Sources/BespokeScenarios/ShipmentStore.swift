import Foundation
import GRDB

/// Tenant A's shipping service's own database: the orders it has seen and their estimated
/// delivery dates.
struct ShipmentStore: Sendable {
    struct Shipment: Sendable, Equatable {
        let orderID: String
        let buyer: String
        let zipCode: String
        let country: String
        let units: Int
        let estimatedDelivery: String?
        let attempts: Int
    }

    private let database: DatabasePool

    init(path: String) throws {
        database = try DatabasePool.serviceDatabase(path: path, migration: "v1-shipments") { db in
            try db.execute(sql: """
                CREATE TABLE shipment (
                    order_id TEXT PRIMARY KEY,
                    buyer TEXT NOT NULL,
                    zip_code TEXT NOT NULL,
                    country TEXT NOT NULL,
                    units INTEGER NOT NULL,
                    estimated_delivery TEXT,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    next_attempt_at REAL NOT NULL,
                    received_at REAL NOT NULL
                );
                CREATE INDEX shipment_pending ON shipment (next_attempt_at) WHERE estimated_delivery IS NULL;
                """)
        }
    }

    /// Records a submitted order once, however often its event arrives.
    func record(orderID: String, buyer: String, zipCode: String, country: String, units: Int) async throws {
        let now = Date().timeIntervalSince1970
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO shipment (order_id, buyer, zip_code, country, units, next_attempt_at, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING
                    """,
                arguments: [orderID, buyer, zipCode, country, units, now, now]
            )
        }
    }

    /// Orders without a date whose next attempt is due.
    func due(limit: Int = 20) async throws -> [Shipment] {
        let now = Date().timeIntervalSince1970
        return try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM shipment WHERE estimated_delivery IS NULL AND next_attempt_at <= ?
                    ORDER BY next_attempt_at LIMIT ?
                    """,
                arguments: [now, limit]
            ).map(Self.shipment)
        }
    }

    func setEstimate(orderID: String, date: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE shipment SET estimated_delivery = ?, attempts = attempts + 1, last_error = NULL WHERE order_id = ?",
                arguments: [date, orderID]
            )
        }
    }

    func recordFailure(orderID: String, error: String, retryAt: Date) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE shipment SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE order_id = ?",
                arguments: [String(error.prefix(500)), retryAt.timeIntervalSince1970, orderID]
            )
        }
    }

    /// The buyer's shipments among `orderIDs`.
    func shipments(buyer: String, orderIDs: [String]) async throws -> [Shipment] {
        guard !orderIDs.isEmpty else { return [] }
        let ids = Array(orderIDs.prefix(500))
        return try await database.read { db in
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
            var arguments: StatementArguments = [buyer]
            arguments += StatementArguments(ids)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM shipment WHERE buyer = ? AND order_id IN (\(marks))", arguments: arguments
            ).map(Self.shipment)
        }
    }

    private static func shipment(_ row: Row) -> Shipment {
        Shipment(
            orderID: row["order_id"], buyer: row["buyer"], zipCode: row["zip_code"], country: row["country"], units: row["units"],
            estimatedDelivery: row["estimated_delivery"], attempts: row["attempts"]
        )
    }
}
