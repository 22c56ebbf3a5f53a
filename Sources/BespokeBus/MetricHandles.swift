import Synchronization

/// swift-metrics handles by key (a tenant, usually), each made once.
///
/// Making a handle asks the metrics backend for it; with Prometheus that is a lock, checks of
/// the name and labels, and a lookup in its registry: too much to repeat for every event or
/// push on a hot path. The handles are kept here instead, one per key ever seen (keys are
/// bounded by what they name: tenants).
public final class MetricHandles<Handles: Sendable>: Sendable {
    private let make: @Sendable (String) -> Handles
    private let made = Mutex<[String: Handles]>([:])

    /// - Parameter make: makes the handles of a key.
    public init(_ make: @escaping @Sendable (String) -> Handles) {
        self.make = make
    }

    /// The handles of `key`, made the first time it is asked for.
    public subscript(_ key: String) -> Handles {
        if let existing = made.withLock({ $0[key] }) { return existing }
        // Made outside the lock (the backend takes its own); a race makes the same handles twice,
        // which backends allow, and keeps one.
        let handles = make(key)
        return made.withLock { made in
            if let existing = made[key] { return existing }
            made[key] = handles
            return handles
        }
    }
}
