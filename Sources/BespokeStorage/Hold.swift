public import BespokeCore
public import Foundation

/// Where a held event stands.
public enum HoldState: String, Sendable, Codable, CaseIterable {
    /// With an interceptor, waiting for it to resume or cancel.
    case held
    /// Queued behind an earlier held event with the same partition key; not yet offered to
    /// any interceptor.
    case waiting
    /// Cancelled by an interceptor or by its deadline: the product never sees it.
    case cancelled
    /// Its hold deadline passed with the `dead-letter` outcome.
    case deadLettered = "dead-lettered"

    /// Whether the event is still in custody (it may yet reach the product).
    public var isActive: Bool { self == .held || self == .waiting }
}

/// The interceptor a held event is with, and until when.
public struct HoldStage: Sendable, Equatable {
    public let customization: String
    public let deadline: Date
    public let onDeadline: HoldOutcome

    public init(customization: String, deadline: Date, onDeadline: HoldOutcome) {
        self.customization = customization
        self.deadline = deadline
        self.onDeadline = onDeadline
    }
}

/// An event in the bus's custody: intercepted, or queued behind an intercepted event of the
/// same partition key. It reaches the log, and the product's consumers, only when released.
public struct Hold: Sendable, Equatable {
    public let id: Int64
    public let tenant: TenantID
    public let eventID: String
    public let source: String
    public let type: String
    public let partitionKey: String?
    /// The event as it is now (an interceptor may have changed allowed fields).
    public var envelope: Data
    public var state: HoldState
    /// The interceptor holding it (state `held`).
    public var stage: HoldStage?
    /// Interceptors that already resumed it, in order; none sees it twice.
    public var passed: [String]
    /// When the current interceptor's endpoint accepted the push.
    public var pushedAt: Date?
    /// Why it was cancelled or dead-lettered.
    public var reason: String?
    public let createdAt: Date

    public init(
        id: Int64, tenant: TenantID, eventID: String, source: String, type: String, partitionKey: String?, envelope: Data,
        state: HoldState, stage: HoldStage?, passed: [String], pushedAt: Date?, reason: String?, createdAt: Date
    ) {
        self.id = id
        self.tenant = tenant
        self.eventID = eventID
        self.source = source
        self.type = type
        self.partitionKey = partitionKey
        self.envelope = envelope
        self.state = state
        self.stage = stage
        self.passed = passed
        self.pushedAt = pushedAt
        self.reason = reason
        self.createdAt = createdAt
    }

    /// The step of the hold's journey: how many interceptors have resumed it.
    public var step: Int { passed.count }

    /// What the current interceptor resumes or cancels with: `<id>.<step>`. A ticket of an
    /// earlier step no longer settles the hold.
    public var ticket: HoldTicket { HoldTicket(id: id, step: step) }

    /// The event as stored for the log when released.
    public func eventToStore() -> EventToStore {
        EventToStore(tenant: tenant, eventID: eventID, source: source, type: type, partitionKey: partitionKey, envelope: envelope)
    }
}

/// Names one step of a hold: the hold's id and how many interceptors it has passed.
public struct HoldTicket: Sendable, Hashable, CustomStringConvertible {
    public let id: Int64
    public let step: Int

    public init(id: Int64, step: Int) {
        self.id = id
        self.step = step
    }

    /// Parses `<id>.<step>`; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let id = Int64(parts[0]), id > 0, let step = Int(parts[1]), step >= 0 else { return nil }
        self.init(id: id, step: step)
    }

    public var description: String { "\(id).\(step)" }
}
