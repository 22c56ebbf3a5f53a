import BespokeCore
public import BespokeStorage
import Foundation

/// Consumer-side idempotency: runs an effect at most once per event for a named consumer,
/// turning at-least-once delivery into one effect.
///
/// The effect runs first and is recorded after it succeeds, so a crash between the two repeats
/// the effect on redelivery. When the consumer's state lives in the same SQLite database, use
/// `SQLiteInbox`, which commits the effect and the record together.
public struct Inbox: Sendable {
    public let store: any InboxStore
    public let consumer: String

    public init(store: any InboxStore, consumer: String) {
        self.store = store
        self.consumer = consumer
    }

    /// Runs `effect` unless this consumer already processed the delivery's event.
    /// - Returns: `true` when the effect ran.
    @discardableResult
    public func process(_ delivery: Delivery, _ effect: () async throws -> Void) async throws -> Bool {
        if try await store.isProcessed(tenant: delivery.tenant, consumer: consumer, eventKey: delivery.eventKey) {
            return false
        }
        try await effect()
        _ = try await store.markProcessed(tenant: delivery.tenant, consumer: consumer, eventKey: delivery.eventKey, at: Date())
        return true
    }
}
