public import BespokeCore
public import Foundation

/// Which event types a subscription receives: exact types, or prefixes written `prefix*`.
/// An empty filter matches every type.
public struct EventTypeFilter: Sendable, Equatable, Codable {
    public let patterns: [String]

    public init(_ patterns: [String]) {
        self.patterns = patterns
    }

    /// Whether the filter selects `type`.
    public func matches(_ type: String) -> Bool {
        if patterns.isEmpty { return true }
        for pattern in patterns {
            if pattern.hasSuffix("*") {
                if type.hasPrefix(pattern.dropLast()) { return true }
            } else if pattern == type {
                return true
            }
        }
        return false
    }

    public init(from decoder: any Decoder) throws {
        self.patterns = try [String](from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try patterns.encode(to: encoder)
    }
}

/// How a subscription's deliveries are retried and when they give up.
public struct DeliveryPolicy: Sendable, Equatable {
    /// Attempts before an event is dead-lettered (the first delivery counts).
    public var maxAttempts: Int
    /// Delay before the first retry; each later retry doubles it, up to `maxBackoff`.
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    /// How long a consumer may hold a delivery before it counts as failed and is redelivered.
    public var ackTimeout: Duration

    public init(
        maxAttempts: Int = 8,
        initialBackoff: Duration = .seconds(1),
        maxBackoff: Duration = .seconds(300),
        ackTimeout: Duration = .seconds(30)
    ) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.ackTimeout = ackTimeout
    }
}

/// A named durable subscription of one tenant.
public struct Subscription: Sendable, Equatable {
    public let id: SubscriptionID
    public let tenant: TenantID
    public let name: String
    public let filter: EventTypeFilter
    public let policy: DeliveryPolicy
    public let createdAt: Date
    /// Every event of the log up to this sequence number is settled for this subscription
    /// (as stored when the subscription was read).
    public let cursor: Int64

    public init(
        id: SubscriptionID, tenant: TenantID, name: String, filter: EventTypeFilter, policy: DeliveryPolicy, createdAt: Date,
        cursor: Int64
    ) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.filter = filter
        self.policy = policy
        self.createdAt = createdAt
        self.cursor = cursor
    }

    /// Subscription names: 1-100 characters of letters, digits, '.', '_' and '-'.
    public static func isValidName(_ name: String) -> Bool {
        let utf8 = name.utf8
        return !utf8.isEmpty && utf8.count <= 100
            && utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39)
                    || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
            }
    }
}

/// What a new subscription is created with.
public struct NewSubscription: Sendable, Equatable {
    public let tenant: TenantID
    public let name: String
    public let filter: EventTypeFilter
    public let policy: DeliveryPolicy

    public init(tenant: TenantID, name: String, filter: EventTypeFilter, policy: DeliveryPolicy) {
        self.tenant = tenant
        self.name = name
        self.filter = filter
        self.policy = policy
    }
}
