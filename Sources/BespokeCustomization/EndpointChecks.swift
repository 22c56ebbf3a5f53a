import BespokeCore
import Synchronization

/// Outbound checks of endpoint URLs (``OutboundPolicy``), each remembered for ``ttl``, so
/// that a push or a UI slot call does not resolve its endpoint's host every time. A check
/// is made again once it is older than that: the host may now resolve elsewhere.
final class EndpointChecks: Sendable {
    let policy: OutboundPolicy
    let ttl: Duration
    private let checks = Mutex<[String: (refusal: BespokeError?, until: ContinuousClock.Instant)]>([:])

    init(policy: OutboundPolicy, ttl: Duration = .seconds(60)) {
        self.policy = policy
        self.ttl = ttl
    }

    /// Why the platform may not call `url`, or nil when it may.
    func refusal(for url: String) -> BespokeError? {
        let now = ContinuousClock.now
        if let cached = checks.withLock({ $0[url] }), cached.until > now { return cached.refusal }
        var refusal: BespokeError?
        do {
            try policy.check(url)
        } catch {
            refusal = error
        }
        checks.withLock { $0[url] = (refusal, now + ttl) }
        return refusal
    }
}
