public import BespokeCore
public import Foundation

/// An event to be stored: its encoded envelope and the attributes the bus indexes.
public struct EventToStore: Sendable, Equatable {
    public let tenant: TenantID
    public let eventID: String
    public let source: String
    public let type: String
    public let partitionKey: String?
    /// The structured-mode JSON envelope, as it will be delivered.
    public let envelope: Data

    public init(tenant: TenantID, eventID: String, source: String, type: String, partitionKey: String?, envelope: Data) {
        self.tenant = tenant
        self.eventID = eventID
        self.source = source
        self.type = type
        self.partitionKey = partitionKey
        self.envelope = envelope
    }

    /// Prepares a validated event for storage.
    public init(_ event: CloudEvent, tenant: TenantID) {
        self.init(
            tenant: tenant,
            eventID: event.id,
            source: event.source,
            type: event.type,
            partitionKey: event.partitionKey,
            envelope: event.encoded()
        )
    }
}

/// One pending delivery of a stored event to a subscription.
public struct Delivery: Sendable, Equatable {
    public let id: DeliveryID
    public let tenant: TenantID
    public let subscription: SubscriptionID
    /// The event's position in the log.
    public let eventSeq: Int64
    public let eventID: String
    public let source: String
    public let type: String
    public let partitionKey: String?
    /// Failed attempts so far.
    public var attempts: Int
    /// Not to be delivered before this time (set while waiting for a retry).
    public var notBefore: Date?
    public var lastError: String?
    /// When the event was stored.
    public let storedAt: Date
    /// The structured-mode JSON envelope.
    public let envelope: Data
    /// The token of the lease this delivery was handed out under (0 when not leased).
    public var leaseToken: UInt32 = 0

    /// What acknowledges (or nacks) this delivery under its current lease.
    public var receipt: DeliveryReceipt { DeliveryReceipt(id: id, token: leaseToken) }

    public init(
        id: DeliveryID, tenant: TenantID, subscription: SubscriptionID, eventSeq: Int64, eventID: String,
        source: String, type: String, partitionKey: String?, attempts: Int, notBefore: Date?, lastError: String?,
        storedAt: Date, envelope: Data
    ) {
        self.id = id
        self.tenant = tenant
        self.subscription = subscription
        self.eventSeq = eventSeq
        self.eventID = eventID
        self.source = source
        self.type = type
        self.partitionKey = partitionKey
        self.attempts = attempts
        self.notBefore = notBefore
        self.lastError = lastError
        self.storedAt = storedAt
        self.envelope = envelope
    }

    /// The event's identity across the platform: CloudEvents `source` + `id`. Consumers
    /// deduplicate on it (see the inbox helpers).
    public var eventKey: String { source + "\u{1F}" + eventID }

    /// Decodes the envelope.
    public func event() throws -> CloudEvent {
        try JSONDecoder().decode(CloudEvent.self, from: envelope)
    }
}

/// An event a subscription gave up on, with the reason.
public struct DeadLetter: Sendable, Equatable {
    public let id: DeadLetterID
    public let tenant: TenantID
    public let subscription: SubscriptionID
    public let eventSeq: Int64
    public let eventID: String
    public let type: String
    public let attempts: Int
    public let reason: String
    public let failedAt: Date
    public let envelope: Data

    public init(
        id: DeadLetterID, tenant: TenantID, subscription: SubscriptionID, eventSeq: Int64, eventID: String,
        type: String, attempts: Int, reason: String, failedAt: Date, envelope: Data
    ) {
        self.id = id
        self.tenant = tenant
        self.subscription = subscription
        self.eventSeq = eventSeq
        self.eventID = eventID
        self.type = type
        self.attempts = attempts
        self.reason = reason
        self.failedAt = failedAt
        self.envelope = envelope
    }
}
