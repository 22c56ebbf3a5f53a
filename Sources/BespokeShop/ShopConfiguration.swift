/// How the shop behaves; defaults suit a demo, tests shorten the periods.
public struct ShopConfiguration: Sendable {
    /// How long after submission an order moves on to validation (eShop's grace period, in
    /// which the buyer may still cancel for free).
    public var gracePeriod: Duration
    /// The longest the grace-period worker sleeps between two looks at the orders.
    public var gracePeriodCheckInterval: Duration
    /// The longest the outbox relay sleeps when nothing wakes it (it is woken after every
    /// commit that raised events; this catches events left by a crash).
    public var outboxPollInterval: Duration
    /// Outbox rows read and published per turn.
    public var outboxBatch: Int
    /// Lines a basket may have, and units of one product in it.
    public var maxBasketLines: Int
    public var maxUnitsPerLine: Int
    /// Concurrent handlers per service and tenant (events of one order are never handled
    /// concurrently).
    public var consumerConcurrency: Int
    /// How long a storefront sign-in link stays valid.
    public var signInLinkLifetime: Duration
    /// How long the services' inbox remembers an event they handled (a redelivery comes
    /// within the subscriptions' ack timeout and retry delay of it; one later than this would
    /// be handled again).
    public var inboxRetention: Duration
    /// How often inbox records past their retention are deleted.
    public var inboxSweepInterval: Duration

    public init(
        gracePeriod: Duration = .seconds(10),
        gracePeriodCheckInterval: Duration = .seconds(1),
        outboxPollInterval: Duration = .seconds(1),
        outboxBatch: Int = 500,
        maxBasketLines: Int = 50,
        maxUnitsPerLine: Int = 1000,
        consumerConcurrency: Int = 2,
        signInLinkLifetime: Duration = .seconds(600),
        inboxRetention: Duration = .seconds(30 * 24 * 3600),
        inboxSweepInterval: Duration = .seconds(60)
    ) {
        self.gracePeriod = gracePeriod
        self.gracePeriodCheckInterval = gracePeriodCheckInterval
        self.outboxPollInterval = outboxPollInterval
        self.outboxBatch = max(1, outboxBatch)
        self.maxBasketLines = maxBasketLines
        self.maxUnitsPerLine = maxUnitsPerLine
        self.consumerConcurrency = max(1, consumerConcurrency)
        self.signInLinkLifetime = signInLinkLifetime
        self.inboxRetention = inboxRetention
        self.inboxSweepInterval = inboxSweepInterval
    }
}
