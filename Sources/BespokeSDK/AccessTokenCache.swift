import Foundation

/// Holds the service's current access token and fetches a new one shortly before it expires.
///
/// Concurrent callers share one request for a new token.
actor AccessTokenCache {
    struct Token: Sendable {
        let value: String
        let expiresAt: ContinuousClock.Instant
    }

    private let fetch: @Sendable () async throws -> (token: String, lifetime: Duration)
    /// How long before its expiry a token is replaced.
    private let margin: Duration
    private var current: Token?
    private var pending: Task<Token, any Error>?

    init(margin: Duration = .seconds(60), fetch: @escaping @Sendable () async throws -> (token: String, lifetime: Duration)) {
        self.margin = margin
        self.fetch = fetch
    }

    /// A token valid for at least the margin (or for most of its life when it is short-lived).
    func token() async throws -> String {
        if let current, ContinuousClock.now < current.expiresAt { return current.value }
        if let pending { return try await pending.value.value }
        let fetch = self.fetch, margin = self.margin
        let task = Task<Token, any Error> {
            let started = ContinuousClock.now
            let (value, lifetime) = try await fetch()
            // Renew `margin` early, but never spend more than half of a short lifetime.
            let early = min(margin, lifetime / 2)
            return Token(value: value, expiresAt: started + lifetime - early)
        }
        pending = task
        defer { pending = nil }
        let token = try await task.value
        current = token
        return token.value
    }

    /// Forgets the token (the platform refused it: revoked, or its signing key retired).
    func invalidate(_ value: String) {
        if current?.value == value { current = nil }
    }
}
