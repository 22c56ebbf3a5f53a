public import BespokeCore
public import Foundation

/// One state change of the bus. A store applies a batch of them in one transaction, in order,
/// so that concurrent publishers and consumers share commits (group commit).
///
/// Every write names its tenant, and a write that names a delivery or dead letter of another
/// tenant or subscription finds nothing.
public enum BusWrite: Sendable {
    /// Store an event (idempotent on tenant + source + id) and create one delivery for each of
    /// the given subscriptions that still exists.
    case publish(EventToStore, subscriptions: [SubscriptionID])
    /// Remove a delivery that its consumer acknowledged.
    case ack(TenantID, SubscriptionID, DeliveryID)
    /// Record a failed attempt and when to try again.
    case retry(TenantID, SubscriptionID, DeliveryID, attempts: Int, notBefore: Date, error: String)
    /// Move a delivery to the dead-letter store.
    case deadLetter(TenantID, SubscriptionID, DeliveryID, attempts: Int, reason: String)
    /// Move a dead letter back to its subscription as a new delivery.
    case redrive(TenantID, SubscriptionID, DeadLetterID)

    /// The tenant the write belongs to.
    public var tenant: TenantID {
        switch self {
        case .publish(let event, _): event.tenant
        case .ack(let tenant, _, _), .retry(let tenant, _, _, _, _, _), .deadLetter(let tenant, _, _, _, _),
            .redrive(let tenant, _, _):
            tenant
        }
    }
}

/// The outcome of one ``BusWrite``.
public enum BusWriteResult: Sendable, Equatable {
    /// The event is stored at `seq`; `duplicate` when it had been stored before (nothing new
    /// was created). `deliveries` are the deliveries created, in subscription order.
    case published(seq: Int64, storedAt: Date, duplicate: Bool, deliveries: [Delivery])
    /// The delivery or dead letter named was found and changed.
    case applied
    /// A redriven dead letter, and the delivery that replaces it.
    case redriven(Delivery)
    /// The delivery or dead letter named does not exist for that tenant and subscription.
    case notFound
}
