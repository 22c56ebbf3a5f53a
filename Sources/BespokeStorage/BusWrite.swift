public import BespokeCore
public import Foundation

/// One state change of the bus. A store applies a batch of them in one transaction, in order,
/// so that concurrent publishers and consumers share commits (group commit).
///
/// Every write names its tenant, and a write that names a subscription, delivery or dead letter
/// of another tenant finds nothing.
///
/// The log is the source of deliveries: a subscription receives the events of its tenant after
/// its cursor. Only what departs from that stream is written: failed attempts, dead letters,
/// redeliveries, and the cursor as acknowledgements advance it.
public enum BusWrite: Sendable {
    /// Store an event (idempotent on tenant + source + id).
    case publish(EventToStore)
    /// Everything up to `sequence` is settled for the subscription. Never moves a cursor back;
    /// drops the failure records it passes.
    case advanceCursor(TenantID, SubscriptionID, to: Int64)
    /// Record a failed attempt of a delivery and when to try again.
    case recordFailure(TenantID, SubscriptionID, DeliveryID, attempts: Int, notBefore: Date, error: String)
    /// Record a delivery as dead with the reason (and forget its failure or redelivery record).
    case deadLetter(TenantID, SubscriptionID, DeliveryID, attempts: Int, reason: String)
    /// Deliver a dead letter again, as a redelivery.
    case redrive(TenantID, SubscriptionID, DeadLetterID)
    /// A redelivery was acknowledged.
    case settleRedelivery(TenantID, SubscriptionID, DeliveryID)
    /// Deliver a stored event of the tenant again to the subscription, as a redelivery,
    /// whatever became of its earlier deliveries.
    case replay(TenantID, SubscriptionID, eventSeq: Int64)

    // Custody (interception). See ``Hold``.

    /// Store an event that may need custody (idempotent on tenant + source + id, across the
    /// log and custody): queued behind an active hold of its partition key when there is one,
    /// else held at `intercept` when given, else appended to the log like `publish`.
    case admit(EventToStore, intercept: HoldStage?)
    /// Hand a hold at step `step` to its next interceptor (the current one, if any, joins
    /// `passed`), with the event as it now is.
    case advanceHold(TenantID, holdID: Int64, step: Int, to: HoldStage, envelope: Data)
    /// Release a hold at step `step` to the log, with the event as it now is.
    case releaseHold(TenantID, holdID: Int64, step: Int, envelope: Data)
    /// End a hold at step `step` without releasing it (`cancelled` or `deadLettered`).
    case closeHold(TenantID, holdID: Int64, step: Int, state: HoldState, reason: String)
    /// The current interceptor's endpoint accepted the push of a hold at step `step`.
    case markHoldPushed(TenantID, holdID: Int64, step: Int)

    /// The tenant the write belongs to.
    public var tenant: TenantID {
        switch self {
        case .publish(let event): event.tenant
        case .advanceCursor(let tenant, _, _), .recordFailure(let tenant, _, _, _, _, _), .deadLetter(let tenant, _, _, _, _),
            .redrive(let tenant, _, _), .settleRedelivery(let tenant, _, _), .replay(let tenant, _, _):
            tenant
        case .admit(let event, _): event.tenant
        case .advanceHold(let tenant, _, _, _, _), .releaseHold(let tenant, _, _, _), .closeHold(let tenant, _, _, _, _),
            .markHoldPushed(let tenant, _, _):
            tenant
        }
    }
}

/// The outcome of one ``BusWrite``.
public enum BusWriteResult: Sendable, Equatable {
    /// The event is stored at `seq`; `duplicate` when it had been stored before.
    case published(seq: Int64, storedAt: Date, duplicate: Bool)
    /// The write took effect.
    case applied
    /// A redriven dead letter or a replayed event, and the redelivery that delivers it.
    case redriven(Delivery)
    /// The subscription, delivery or dead letter named does not exist for that tenant.
    case notFound
    /// The event is in custody (`duplicate` when it had been admitted before).
    case held(Hold, duplicate: Bool)
    /// A hold was released: its event is stored at `seq`. `next` is the hold queued behind
    /// it on the same partition key, now at the head of its queue, for the bus to decide on.
    case released(EventToStore, seq: Int64, storedAt: Date, next: Hold?)
    /// A hold was closed; `next` as for `released`.
    case closed(Hold, next: Hold?)
}

/// What one step of a retention sweep over the log did.
public struct EventDeletion: Sendable, Equatable {
    /// Events deleted.
    public let deleted: Int
    /// The last position looked at, to go on after; nil once every event stored before the
    /// sweep's cutoff has been looked at.
    public let resumeAfter: Int64?

    public init(deleted: Int, resumeAfter: Int64?) {
        self.deleted = deleted
        self.resumeAfter = resumeAfter
    }
}

/// A page of a subscription's stream read from the log.
public struct DeliveryPage: Sendable {
    /// Pending deliveries, in log order, with their recorded failures.
    public let deliveries: [Delivery]
    /// The highest sequence number examined (events of other types included); nil if none.
    public let scannedThrough: Int64?
    /// Whether the log holds nothing more after `scannedThrough`.
    public let exhausted: Bool

    public init(deliveries: [Delivery], scannedThrough: Int64?, exhausted: Bool) {
        self.deliveries = deliveries
        self.scannedThrough = scannedThrough
        self.exhausted = exhausted
    }
}
