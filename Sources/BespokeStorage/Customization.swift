public import BespokeCore
public import Foundation

/// How a tenant's service takes part in the flow of an event type.
public enum CustomizationMode: String, Sendable, Codable, CaseIterable {
    /// A copy of each event is pushed to the endpoint; the product's flow never waits for it.
    case observe
    /// Each event is held in the bus's custody and pushed to the endpoint; the product's
    /// consumers see it only once the tenant's service resumes it.
    case intercept
    /// The endpoint fills a UI slot of the product's pages (the registration's type names the
    /// slot, `ui.*`): the product posts the slot's context and renders the entries it answers.
    case ui
    /// The endpoint answers an extension point of the product (the registration's type names
    /// the point, `ext.*`) synchronously, within its `timeout`. `onDeadline` says what happens
    /// when it fails or is late: `cancel` (the default) fails the product's request, `resume`
    /// carries on with the point's default answer.
    case sync

    /// Catalog types whose name starts with this are UI slots, registered with mode `ui` only.
    public static let uiSlotPrefix = "ui."
}

/// What happens to a held event when its hold deadline passes.
public enum HoldOutcome: String, Sendable, Codable, CaseIterable {
    /// Released unchanged, as if the interceptor had resumed it.
    case resume
    /// Dropped: the product never sees it.
    case cancel
    /// Kept aside as a dead letter of the hold, for an operator to look at.
    case deadLetter = "dead-letter"
}

/// A key that signs the webhooks of a customization (Standard Webhooks `whsec_...`).
public struct SigningSecret: Sendable, Equatable {
    public let secret: String
    /// When a rotated-out secret stops being used; nil for the current one.
    public let expiresAt: Date?

    public init(secret: String, expiresAt: Date?) {
        self.secret = secret
        self.expiresAt = expiresAt
    }
}

/// A tenant's registration of one of its services for one event type of the product.
public struct Customization: Sendable, Equatable {
    /// `cus_` followed by 24 hex digits.
    public let id: String
    public let tenant: TenantID
    public let eventType: String
    public let mode: CustomizationMode
    /// Where events are pushed (http or https).
    public var url: String
    /// Among several interceptors of the same type, lower orders see the event first.
    public var order: Int
    /// The longest one push may take, connection included.
    public var timeout: Duration
    /// How long an intercepted event may stay held by this customization.
    public var holdDeadline: Duration
    /// What happens when the hold deadline passes.
    public var onDeadline: HoldOutcome
    public var enabled: Bool
    /// Why the platform disabled it (410 Gone, persistent failure); nil when enabled by the tenant.
    public var disabledReason: String?
    /// Signing secrets, the current one first; during a rotation the previous one too.
    public var secrets: [SigningSecret]
    public let createdAt: Date
    /// Since when every push to the endpoint has failed; nil after a success. Kept by the
    /// platform (it disables the endpoint when this is old enough), not by the tenant.
    public var failingSince: Date?
    /// Which events of its type it takes (observers and interceptors); nil for all. An event
    /// the filter turns away is neither pushed nor held by it.
    public var filter: EventFilter?
    /// The most pushes a second its endpoint gets (observers and interceptors); nil for no
    /// limit but the endpoint's concurrency. Pushes over it wait their turn.
    public var rateLimit: Double?
    /// Pushes of one event at most (observers and interceptors); nil for the platform's retry
    /// schedule. Then an observer's event is a dead letter, an interceptor's waits for its hold
    /// deadline.
    public var maxAttempts: Int?

    public init(
        id: String, tenant: TenantID, eventType: String, mode: CustomizationMode, url: String, order: Int,
        timeout: Duration, holdDeadline: Duration, onDeadline: HoldOutcome, enabled: Bool, disabledReason: String?,
        secrets: [SigningSecret], createdAt: Date, failingSince: Date? = nil, filter: EventFilter? = nil, rateLimit: Double? = nil,
        maxAttempts: Int? = nil
    ) {
        self.maxAttempts = maxAttempts
        self.filter = filter
        self.rateLimit = rateLimit
        self.id = id
        self.tenant = tenant
        self.eventType = eventType
        self.mode = mode
        self.url = url
        self.order = order
        self.timeout = timeout
        self.holdDeadline = holdDeadline
        self.onDeadline = onDeadline
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.secrets = secrets
        self.createdAt = createdAt
        self.failingSince = failingSince
    }

    /// The bus subscription an observer's pushes are delivered from.
    public var subscriptionName: String { "customization.\(id)" }

    /// The secrets still in use at `date`.
    public func activeSecrets(at date: Date) -> [SigningSecret] {
        secrets.filter { ($0.expiresAt ?? .distantFuture) > date }
    }
}

/// One push of an event to a customization's endpoint, as logged.
public struct DeliveryAttempt: Sendable, Equatable {
    /// Its place in the log, once recorded (nil before): later attempts have larger ids.
    public let id: Int64?
    public let tenant: TenantID
    public let customization: String
    /// The webhook message id (`webhook-id`).
    public let messageID: String
    public let eventID: String
    public let attemptedAt: Date
    /// The HTTP status, nil when no response came (connection refused, timeout).
    public let status: Int?
    public let latency: Duration
    public let error: String?

    public init(
        tenant: TenantID, customization: String, messageID: String, eventID: String, attemptedAt: Date, status: Int?,
        latency: Duration, error: String?, id: Int64? = nil
    ) {
        self.id = id
        self.tenant = tenant
        self.customization = customization
        self.messageID = messageID
        self.eventID = eventID
        self.attemptedAt = attemptedAt
        self.status = status
        self.latency = latency
        self.error = error
    }

    /// Whether the endpoint accepted the event (2xx).
    public var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
}

/// Which of a customization's push attempts to list, newest first: all, or those matching
/// every filter given.
public struct AttemptQuery: Sendable, Equatable {
    /// An attempt's outcome: the endpoint accepted the event (2xx), or not (another status,
    /// or no answer).
    public enum Outcome: String, Sendable, CaseIterable {
        /// The endpoint answered 2xx.
        case succeeded
        /// Another status, or no answer (refused, timed out).
        case failed
    }

    /// Only attempts of this outcome.
    public var outcome: Outcome?
    /// Only the attempts of this event (its CloudEvents `id`).
    public var eventID: String?
    /// The webhook message id (`webhook-id`): every attempt of one push.
    public var messageID: String?
    /// Attempts made at or after this instant.
    public var since: Date?
    /// Attempts older than this position: the ``AttemptPage/next`` of the page before.
    public var before: Int64?
    /// The most attempts a page holds (1-1000).
    public var limit: Int
    /// The most attempts a page looks at to find those matching: a filter that matches few of
    /// a long log costs each page this much at most. Such a page holds fewer attempts than
    /// `limit`, maybe none, and a ``AttemptPage/next`` to look further from.
    public var scanLimit: Int

    public init(
        outcome: Outcome? = nil, eventID: String? = nil, messageID: String? = nil, since: Date? = nil, before: Int64? = nil,
        limit: Int = 100, scanLimit: Int = 10_000
    ) {
        self.outcome = outcome
        self.eventID = eventID
        self.messageID = messageID
        self.since = since
        self.before = before
        self.limit = min(max(limit, 1), 1000)
        self.scanLimit = max(scanLimit, 1)
    }

    /// How much older than `since` an attempt may be recorded after one made at `since`: its
    /// push was still under way (a push's timeout) and its record waited for the next batch.
    /// Past attempts this much older than `since`, none can match.
    public static let recordingSlack: TimeInterval = 300
}

/// A page of push attempts, newest first.
public struct AttemptPage: Sendable, Equatable {
    /// At most the query's `limit`, maybe none even when ``next`` is set.
    public var attempts: [DeliveryAttempt]
    /// Where the next page starts (``AttemptQuery/before``); nil when no older attempt can match.
    public var next: Int64?

    public init(attempts: [DeliveryAttempt], next: Int64?) {
        self.attempts = attempts
        self.next = next
    }
}
