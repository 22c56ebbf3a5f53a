import BespokeCore
import Foundation
import GRDB

/// Events raised by a state change, written in the change's own transaction (no dual write).
/// The ``OutboxRelay`` publishes them to the bus afterwards.
enum Outbox {
    /// Appends an event of `type` raised by `service` for `tenant`.
    /// - Parameter key: the partition key: the order id for order events, so one order's events
    ///   keep their order.
    static func append(
        _ db: Database, tenant: TenantID, _ type: ShopEventType, by service: ShopService, key: String,
        data: some Encodable, traceparent: String? = nil
    ) throws {
        var event = CloudEvent(
            id: UUID().uuidString.lowercased(), source: ShopEventType.source(service), type: type.rawValue,
            time: RFC3339.format(Date()), data: try JSONValue.encoding(data)
        )
        event.tenantID = tenant.rawValue
        event.partitionKey = key
        event.traceparent = traceparent
        try db.execute(
            sql: "INSERT INTO outbox (tenant_id, envelope, created_at) VALUES (?, ?, ?)",
            arguments: [tenant.rawValue, event.encoded(), Date().timeIntervalSince1970]
        )
    }
}

extension JSONValue {
    /// The JSON value of an `Encodable`.
    static func encoding(_ value: some Encodable) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }
}

extension CloudEvent {
    /// The event's `data` decoded as `T`.
    /// - Throws: ``BespokeError`` `schema_violation` when it does not have that shape.
    func decodeData<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: JSONEncoder().encode(data ?? .null))
        } catch {
            throw BespokeError(.schemaViolation, "\(self.type) '\(id)' data does not decode: \(error)")
        }
    }
}
