public import BespokeCore
import BespokeStorage

/// Settings of the event bus. Every limit is explicit and can be changed by the operator.
public struct BusConfiguration: Sendable {
    /// Event size and batch limits.
    public var limits: EventLimits
    /// The most writes (publishes, acks, retries) one transaction carries.
    public var maxBatchWrites: Int
    /// Pending deliveries per subscription kept in memory; the rest stay in the store.
    public var window: Int
    /// How often leases, retries and long-polls are checked.
    public var tickInterval: Duration
    /// How often subscription cursors moved by acknowledgements are persisted. Acks not yet
    /// persisted when the process dies are delivered again (at-least-once).
    public var cursorFlushInterval: Duration
    /// The policy of a subscription created without one.
    public var defaultPolicy: DeliveryPolicy
    /// The most deliveries one receive returns.
    public var maxReceiveBatch: Int
    /// The longest a receive may wait for deliveries (long-poll).
    public var maxWait: Duration
    /// Bounds operators put on subscription policies.
    public var maxAttemptsLimit: Int
    public var maxAckTimeout: Duration
    /// The longest a delivery may wait for a retry (`maxBackoff`, a consumer's `retryAfter`).
    public var maxRetryDelay: Duration
    /// The deepest chain of reactions accepted: an event whose `bespokedepth` is larger is
    /// refused (`depth_exceeded`), which stops loops of customizations publishing in reaction
    /// to each other.
    public var maxDepth: Int
    /// How often held events are checked against their deadlines.
    public var holdDeadlineCheckInterval: Duration
    /// How long cancelled and dead-lettered holds are kept (for the tenant and the operator to
    /// look at) before they are deleted.
    public var closedHoldRetention: Duration
    /// Events stored longer ago than this are deleted once every subscription of their tenant
    /// has settled them (nil: every event is kept). Events a subscription still has to deliver,
    /// and the events of dead letters and redeliveries, are kept however old. Publishing is
    /// idempotent while the event is kept: the same `source` and `id` published again after its
    /// event was deleted is stored again (a new event, with a new sequence).
    public var eventRetention: Duration?
    /// How long the store's inbox (``Inbox``) remembers that a consumer handled an event. A
    /// redelivery comes within an ack timeout and a retry delay of the effect (hours at most);
    /// one later than this would run the effect again.
    public var inboxRetention: Duration
    /// How often events, closed holds and inbox records past their retention are deleted (at
    /// least 10 ms).
    public var retentionSweepInterval: Duration
    /// How fast each tenant may publish; nil for no limit. The bus's capacity is shared: a
    /// tenant publishing flat out would otherwise take the commits and the CPU its neighbours'
    /// events need.
    public var publishQuota: PublishQuota?

    public init(
        limits: EventLimits = EventLimits(),
        maxBatchWrites: Int = 512,
        window: Int = 1000,
        tickInterval: Duration = .milliseconds(10),
        cursorFlushInterval: Duration = .milliseconds(100),
        defaultPolicy: DeliveryPolicy = DeliveryPolicy(),
        maxReceiveBatch: Int = 100,
        maxWait: Duration = .seconds(30),
        maxAttemptsLimit: Int = 100,
        maxAckTimeout: Duration = .seconds(12 * 3600),
        maxRetryDelay: Duration = .seconds(24 * 3600),
        maxDepth: Int = 8,
        holdDeadlineCheckInterval: Duration = .milliseconds(100),
        closedHoldRetention: Duration = .seconds(7 * 24 * 3600),
        eventRetention: Duration? = .seconds(7 * 24 * 3600),
        inboxRetention: Duration = .seconds(30 * 24 * 3600),
        retentionSweepInterval: Duration = .seconds(60),
        publishQuota: PublishQuota? = PublishQuota()
    ) {
        self.publishQuota = publishQuota
        self.closedHoldRetention = closedHoldRetention
        self.eventRetention = eventRetention
        self.inboxRetention = inboxRetention
        self.retentionSweepInterval = retentionSweepInterval
        self.holdDeadlineCheckInterval = holdDeadlineCheckInterval
        self.maxDepth = maxDepth
        self.limits = limits
        self.maxBatchWrites = maxBatchWrites
        self.window = window
        self.tickInterval = tickInterval
        self.cursorFlushInterval = cursorFlushInterval
        self.defaultPolicy = defaultPolicy
        self.maxReceiveBatch = maxReceiveBatch
        self.maxWait = maxWait
        self.maxAttemptsLimit = maxAttemptsLimit
        self.maxAckTimeout = maxAckTimeout
        self.maxRetryDelay = maxRetryDelay
    }
}

/// Each tenant's share of the bus: events a second on average and at once. A publisher over its
/// tenant's quota is paced (its publish returns later, in turn) for up to ``maxWait``; past that
/// it is refused with `rate_limited` and a retry time.
public struct PublishQuota: Sendable, Equatable {
    /// Events a second each tenant may publish on average (at least 0.001).
    public var eventsPerSecond: Double
    /// Events a tenant may publish at once, above its average (at least 1).
    public var burst: Double
    /// The longest a publish waits for its tenant's quota before it is refused.
    public var maxWait: Duration
    /// Tenants with another quota than the default.
    public var overrides: [TenantID: TenantRateLimiter.Limit]

    /// Values out of range are brought into it: a rate of at least 0.001 events/s, a burst of
    /// at least one event, a wait of zero or more.
    public init(
        eventsPerSecond: Double = 5_000, burst: Double = 10_000, maxWait: Duration = .seconds(2),
        overrides: [TenantID: TenantRateLimiter.Limit] = [:]
    ) {
        self.eventsPerSecond = eventsPerSecond.isFinite ? max(eventsPerSecond, 0.001) : 5_000
        self.burst = burst.isFinite ? max(burst, 1) : 10_000
        self.maxWait = max(maxWait, .zero)
        self.overrides = overrides
    }
}
