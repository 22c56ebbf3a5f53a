import Synchronization

/// Spaces the pushes to endpoints with a rate limit: at `rate` pushes a second, each push to
/// one customization is due `1 / rate` after the one before it. Taking a turn books it, so
/// pushes waiting together are spread out in the order they asked.
final class PushPacer: Sendable {
    private struct Turns {
        /// The rate the turns were booked at: a new rate starts the booking over.
        var rate: Double
        /// When the next push may start.
        var next: ContinuousClock.Instant
    }

    private let turns = Mutex<[String: Turns]>([:])

    /// Books the next turn of `customization` at `rate` pushes a second, unless it comes later
    /// than `latest`. - Returns: how long to wait for it (zero when it is now), or nil when it
    /// would come too late (nothing is booked then).
    func turn(
        of customization: String, rate: Double, notAfter latest: ContinuousClock.Instant? = nil, now: ContinuousClock.Instant = .now
    ) -> Duration? {
        let interval = Duration.nanoseconds(Int64((1e9 / rate).rounded()))
        return turns.withLock { turns in
            let booked = turns[customization].flatMap { $0.rate == rate ? $0.next : nil } ?? now
            let due = max(booked, now)
            if let latest, due > latest { return nil }
            turns[customization] = Turns(rate: rate, next: due + interval)
            return due - now
        }
    }

    /// How long until the next turn of `customization` at `rate` (zero when it is now), without
    /// booking it.
    func untilTurn(of customization: String, rate: Double, now: ContinuousClock.Instant = .now) -> Duration {
        turns.withLock { turns in
            guard let booked = turns[customization], booked.rate == rate else { return .zero }
            return max(booked.next - now, .zero)
        }
    }

    /// Forgets a customization's turns (it was deleted).
    func forget(_ customization: String) {
        _ = turns.withLock { $0.removeValue(forKey: customization) }
    }
}
