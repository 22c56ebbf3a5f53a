/// The store-assigned id of a subscription.
public struct SubscriptionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The id of one delivery of an event to a subscription.
///
/// A delivery from the subscription's stream is identified by the event's sequence number in
/// the log (positive). A redriven dead letter is delivered again under an id of its own
/// (negative internally, written `r<n>`).
public struct DeliveryID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// The delivery of the event at `sequence` in the log.
    public static func stream(_ sequence: Int64) -> DeliveryID { DeliveryID(sequence) }
    /// The delivery of a redriven dead letter.
    public static func redelivery(_ id: Int64) -> DeliveryID { DeliveryID(-id) }

    /// Whether this is a redelivery (a redriven dead letter) rather than a stream delivery.
    public var isRedelivery: Bool { rawValue < 0 }

    /// Parses the textual form (`123` or `r45`); nil when malformed.
    public init?(_ text: String) {
        if text.hasPrefix("r"), let value = Int64(text.dropFirst()), value > 0 {
            self.rawValue = -value
        } else if let value = Int64(text), value > 0 {
            self.rawValue = value
        } else {
            return nil
        }
    }

    public var description: String { isRedelivery ? "r\(-rawValue)" : String(rawValue) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Proof of one lease of a delivery: the delivery's id and a random token of that lease,
/// written `123.8f3a9c21` (or `r45.8f3a9c21` for a redelivery).
///
/// Acks and nacks take a receipt, and only the current lease's receipt is accepted: a consumer
/// whose lease expired, and whose delivery went to another consumer meanwhile, cannot settle it.
public struct DeliveryReceipt: Hashable, Sendable, CustomStringConvertible {
    public let id: DeliveryID
    public let token: UInt32

    public init(id: DeliveryID, token: UInt32) {
        self.id = id
        self.token = token
    }

    /// Parses the textual form; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].count == 8, let id = DeliveryID(String(parts[0])),
            let token = UInt32(parts[1], radix: 16)
        else { return nil }
        self.id = id
        self.token = token
    }

    public var description: String {
        let hex = String(token, radix: 16)
        return "\(id)." + String(repeating: "0", count: 8 - hex.count) + hex
    }
}

/// The store-assigned id of a dead letter.
public struct DeadLetterID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
