public import BespokeCore
import Synchronization

/// Per-tenant token buckets: each tenant may make `rate` calls a second on average, `burst` at
/// once. One tenant at its limit never takes from another's bucket.
public final class TenantRateLimiter: Sendable {
    /// A tenant's allowance.
    public struct Limit: Sendable, Equatable {
        public var rate: Double
        public var burst: Double

        public init(rate: Double, burst: Double) {
            self.rate = rate
            self.burst = burst
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let defaultLimit: Limit
    private let overrides: [TenantID: Limit]
    private let buckets = Mutex<[TenantID: Bucket]>([:])

    public init(default defaultLimit: Limit, overrides: [TenantID: Limit] = [:]) {
        self.defaultLimit = defaultLimit
        self.overrides = overrides
    }

    /// Takes one token from the tenant's bucket. - Returns: nil when allowed, else how long
    /// until a token is there.
    public func acquire(_ tenant: TenantID, now: ContinuousClock.Instant = .now) -> Duration? {
        let limit = overrides[tenant] ?? defaultLimit
        return buckets.withLock { buckets in
            var bucket = buckets[tenant] ?? Bucket(tokens: limit.burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(limit.burst, bucket.tokens + seconds * limit.rate)
            bucket.updated = now
            defer { buckets[tenant] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return .milliseconds(Int64(((1 - bucket.tokens) / limit.rate * 1000).rounded(.up)))
        }
    }

    /// Forgets a deleted tenant's bucket.
    public func forget(_ tenant: TenantID) {
        _ = buckets.withLock { $0.removeValue(forKey: tenant) }
    }
}
