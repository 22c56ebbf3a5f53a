import Synchronization

/// Per-tenant token buckets: each tenant may make `rate` calls (or publish `rate` events) a
/// second on average, `burst` at once. One tenant at its limit never takes from another's bucket.
/// The gateway refuses calls over the limit (``acquire(_:now:)``); the bus paces publishers
/// over it (``reserve(_:tokens:maxWait:now:)``).
public final class TenantRateLimiter: Sendable {
    /// A tenant's allowance.
    public struct Limit: Sendable, Equatable {
        /// Tokens added a second.
        public var rate: Double
        /// The most tokens the bucket holds: what may be taken at once.
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

    /// The allowance of `tenant`, brought into range: a rate above 0, a burst of at least 1.
    public func limit(of tenant: TenantID) -> Limit {
        let limit = overrides[tenant] ?? defaultLimit
        return Limit(rate: Self.minimumRate(limit.rate), burst: limit.burst.isFinite ? max(limit.burst, 1) : 1)
    }

    /// Takes one token from the tenant's bucket. - Returns: nil when allowed, else how long
    /// until a token is there.
    public func acquire(_ tenant: TenantID, now: ContinuousClock.Instant = .now) -> Duration? {
        let limit = limit(of: tenant)
        return buckets.withLock { buckets in
            // One lookup on the gateway's path: the bucket is changed where it is.
            guard let index = buckets.index(forKey: tenant) else {
                // A new bucket is full, and a burst is at least 1.
                buckets[tenant] = Bucket(tokens: limit.burst - 1, updated: now)
                return nil
            }
            var bucket = Self.refilled(buckets.values[index], limit: limit, now: now)
            defer { buckets.values[index] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return Self.duration(seconds: (1 - bucket.tokens) / limit.rate)
        }
    }

    /// What a reservation decided.
    public enum Reservation: Sendable, Equatable {
        /// The tokens were there and are taken.
        case granted
        /// The tokens are taken ahead of time: go on after this wait.
        case after(Duration)
        /// The wait would be longer than allowed; nothing is taken. Try again after this.
        case refused(retryAfter: Duration)
    }

    /// Takes `tokens` from the tenant's bucket, ahead of time when it lacks them, so that
    /// callers over the limit are paced in the order they came rather than refused: each waits
    /// until its tokens would have been there. A wait past `maxWait` is refused instead, and
    /// nothing is taken. A request larger than `burst` is granted once the bucket is full and
    /// leaves it in debt, which later callers wait out: large batches are slowed, never
    /// refused for good, and never cheaper than small ones.
    public func reserve(_ tenant: TenantID, tokens: Double, maxWait: Duration, now: ContinuousClock.Instant = .now) -> Reservation {
        let limit = limit(of: tenant)
        let tokens = tokens.isFinite ? max(tokens, 0) : 0
        return buckets.withLock { buckets in
            var bucket = Self.refilled(buckets[tenant], limit: limit, now: now)
            defer { buckets[tenant] = bucket }
            let balance = bucket.tokens - tokens
            if balance >= 0 || bucket.tokens >= limit.burst {
                bucket.tokens = balance
                return .granted
            }
            // Oversized requests wait for a full bucket; others for their own tokens.
            let wait = Self.duration(seconds: (min(tokens, limit.burst) - bucket.tokens) / limit.rate)
            if wait > maxWait { return .refused(retryAfter: wait) }
            bucket.tokens = balance
            return .after(wait)
        }
    }

    /// Gives back tokens taken by a reservation whose work was not done (up to `burst`).
    public func refund(_ tenant: TenantID, tokens: Double) {
        guard tokens.isFinite, tokens > 0 else { return }
        let burst = limit(of: tenant).burst
        buckets.withLock { buckets in
            if var bucket = buckets[tenant] {
                bucket.tokens = min(burst, bucket.tokens + tokens)
                buckets[tenant] = bucket
            }
        }
    }

    /// A rate that keeps waits finite: a rate of zero or less is taken as one token an hour.
    private static func minimumRate(_ rate: Double) -> Double {
        rate.isFinite && rate > 0 ? max(rate, 1.0 / 3600) : 1.0 / 3600
    }

    /// `seconds` as a duration, rounded up to the nanosecond, within 0...1 day.
    private static func duration(seconds: Double) -> Duration {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return .nanoseconds(Int64((min(seconds, 86_400) * 1e9).rounded(.up)))
    }

    /// The bucket as of `now`: refilled for the time since it was last used, up to `burst`
    /// (`limit` as ``limit(of:)`` gives it). A caller that read the clock before another one
    /// does not move the bucket back in time.
    private static func refilled(_ bucket: Bucket?, limit: Limit, now: ContinuousClock.Instant) -> Bucket {
        guard var bucket else { return Bucket(tokens: limit.burst, updated: now) }
        guard now > bucket.updated else { return bucket }
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(limit.burst, bucket.tokens + seconds * limit.rate)
        bucket.updated = now
        return bucket
    }

    /// Forgets a deleted tenant's bucket.
    public func forget(_ tenant: TenantID) {
        _ = buckets.withLock { $0.removeValue(forKey: tenant) }
    }
}
