/// Settings of event-based customization: pushes to tenants' endpoints, holds, outbound safety.
public struct CustomizationConfiguration: Sendable {
    /// Which endpoint addresses the platform may push to.
    public var outbound: OutboundPolicy
    /// When each attempt of a push is made, from the first failure on: the delay before the
    /// second attempt, the third, and so on (each with ±10% jitter). The push is given up
    /// (dead-lettered, replayable) after `retrySchedule.count + 1` attempts. The default is
    /// Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    public var retrySchedule: [Duration]
    /// Pushes in flight to one endpoint at most.
    public var endpointConcurrency: Int
    /// The longest a connection to an endpoint may take to open.
    public var connectTimeout: Duration
    /// A registration's push timeout when it names none, and the most it may name.
    public var defaultTimeout: Duration
    public var maxTimeout: Duration
    /// A registration's hold deadline when it names none, and the most it may name.
    public var defaultHoldDeadline: Duration
    public var maxHoldDeadline: Duration
    /// How long a rotated-out signing secret keeps signing beside the new one.
    public var secretOverlap: Duration
    /// An endpoint failing every push for this long is disabled (with an operational event).
    public var disableAfter: Duration
    /// How long the log of push attempts keeps an attempt. Replays and recoveries read the
    /// event log, not this one: a message of the attempt log can be replayed while its event is
    /// in the log (`BusConfiguration.eventRetention`, 7 days by default).
    public var attemptRetention: Duration
    /// How often attempts past their retention are deleted (the first time one interval after
    /// the dispatcher starts; at least 10 ms).
    public var attemptSweepInterval: Duration
    /// How often the dispatcher picks up registration changes.
    public var reconcileInterval: Duration
    /// How often the store is polled for changes made by other processes (catalog,
    /// registrations, suspensions); changes made through this process apply at once.
    public var indexSyncInterval: Duration
    /// The most a UI extension may take to fill a slot while a page renders (its registration's
    /// timeout, when shorter, applies); a late one is left out of the page.
    public var uiSlotDeadline: Duration
    /// A synchronous extension's deadline when its registration names none, and the most it may name.
    public var defaultExtensionDeadline: Duration
    public var maxExtensionDeadline: Duration
    /// The most all synchronous extension calls of one request may take together; each call
    /// gets what is left of it when that is less than its own deadline.
    public var extensionBudget: Duration
    /// Requests this many extension calls deep may not call another (a loop guard).
    public var maxExtensionDepth: Int
    /// An extension endpoint failing this many calls in a row is not called (its circuit is
    /// open) for `breakerOpenDuration`; then one trial call decides whether it closes again.
    public var breakerFailureThreshold: Int
    public var breakerOpenDuration: Duration

    public static let svixSchedule: [Duration] = [
        .seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18000), .seconds(36000), .seconds(36000),
    ]

    public init(
        outbound: OutboundPolicy = OutboundPolicy(),
        retrySchedule: [Duration] = Self.svixSchedule,
        endpointConcurrency: Int = 4,
        connectTimeout: Duration = .seconds(5),
        defaultTimeout: Duration = .seconds(15),
        maxTimeout: Duration = .seconds(30),
        defaultHoldDeadline: Duration = .seconds(3600),
        maxHoldDeadline: Duration = .seconds(72 * 3600),
        secretOverlap: Duration = .seconds(24 * 3600),
        disableAfter: Duration = .seconds(5 * 24 * 3600),
        attemptRetention: Duration = .seconds(30 * 24 * 3600),
        attemptSweepInterval: Duration = .seconds(60),
        reconcileInterval: Duration = .milliseconds(200),
        indexSyncInterval: Duration = .milliseconds(500),
        uiSlotDeadline: Duration = .milliseconds(300),
        defaultExtensionDeadline: Duration = .milliseconds(500),
        maxExtensionDeadline: Duration = .seconds(2),
        extensionBudget: Duration = .seconds(3),
        maxExtensionDepth: Int = 3,
        breakerFailureThreshold: Int = 5,
        breakerOpenDuration: Duration = .seconds(30)
    ) {
        self.defaultExtensionDeadline = defaultExtensionDeadline
        self.maxExtensionDeadline = maxExtensionDeadline
        self.extensionBudget = extensionBudget
        self.maxExtensionDepth = maxExtensionDepth
        self.breakerFailureThreshold = max(1, breakerFailureThreshold)
        self.breakerOpenDuration = breakerOpenDuration
        self.uiSlotDeadline = uiSlotDeadline
        self.indexSyncInterval = indexSyncInterval
        self.outbound = outbound
        self.retrySchedule = retrySchedule
        self.endpointConcurrency = max(1, endpointConcurrency)
        self.connectTimeout = connectTimeout
        self.defaultTimeout = defaultTimeout
        self.maxTimeout = maxTimeout
        self.defaultHoldDeadline = defaultHoldDeadline
        self.maxHoldDeadline = maxHoldDeadline
        self.secretOverlap = secretOverlap
        self.disableAfter = disableAfter
        self.attemptRetention = attemptRetention
        self.attemptSweepInterval = attemptSweepInterval
        self.reconcileInterval = reconcileInterval
    }

    /// The delay before the attempt after `failedAttempts` failures, with ±10% jitter.
    func retryDelay(afterFailures failedAttempts: Int) -> Duration {
        guard !retrySchedule.isEmpty else { return .zero }
        let base = retrySchedule[min(max(failedAttempts - 1, 0), retrySchedule.count - 1)]
        return base * Double.random(in: 0.9...1.1)
    }
}
