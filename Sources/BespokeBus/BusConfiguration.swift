import BespokeCore
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
        closedHoldRetention: Duration = .seconds(7 * 24 * 3600)
    ) {
        self.closedHoldRetention = closedHoldRetention
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
