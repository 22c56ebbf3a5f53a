/// Size limits the bus enforces on what it accepts. All are configurable.
public struct EventLimits: Sendable, Equatable {
    /// The largest encoded CloudEvent accepted, in bytes. CloudEvents intermediaries must forward
    /// events of up to 64 KiB, so the default is that and lower values are refused.
    public var maxEventBytes: Int
    /// The largest number of events in one batch publish.
    public var maxBatchEvents: Int

    public static let minimumEventBytes = 64 * 1024

    public init(maxEventBytes: Int = 64 * 1024, maxBatchEvents: Int = 500) {
        self.maxEventBytes = max(maxEventBytes, Self.minimumEventBytes)
        self.maxBatchEvents = max(maxBatchEvents, 1)
    }
}
