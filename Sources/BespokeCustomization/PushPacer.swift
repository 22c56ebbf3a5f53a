import Synchronization

/// Spaces the pushes to endpoints with a rate limit: at `rate` pushes a second, each push to
/// one customization is due `1 / rate` after the one before it. Taking a turn books it, so
/// pushes waiting together are spread out in the order they asked.
final class PushPacer: Sendable {
    /// When each customization's next push may start.
    private let nextTurns = Mutex<[String: ContinuousClock.Instant]>([:])

    /// Books the next turn of `customization` at `rate` pushes a second. - Returns: how long
    /// to wait for it (zero when it is now).
    func turn(of customization: String, rate: Double, now: ContinuousClock.Instant = .now) -> Duration {
        let interval = Duration.nanoseconds(Int64((1e9 / rate).rounded()))
        return nextTurns.withLock { nextTurns in
            let due = max(nextTurns[customization] ?? now, now)
            nextTurns[customization] = due + interval
            return due - now
        }
    }

    /// How long until the next turn of `customization` (zero when it is now), without booking it.
    func untilTurn(of customization: String, now: ContinuousClock.Instant = .now) -> Duration {
        nextTurns.withLock { nextTurns in nextTurns[customization].map { max($0 - now, .zero) } ?? .zero }
    }
}
