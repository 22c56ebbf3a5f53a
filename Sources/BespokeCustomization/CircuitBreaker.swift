import Synchronization

/// One circuit per extension endpoint: closed while calls succeed; open (calls fail at once)
/// after `threshold` failures in a row, for `openDuration`; then half-open, letting one trial
/// call through, whose outcome closes or reopens it.
final class CircuitBreaker: Sendable {
    enum State: Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen
    }

    /// Whether a call may go ahead.
    enum Permit: Equatable {
        case allowed
        /// The one trial call of a half-open circuit.
        case trial
        case refused
    }

    private let threshold: Int
    private let openDuration: Duration
    private let states = Mutex<[String: State]>([:])

    init(threshold: Int, openDuration: Duration) {
        self.threshold = threshold
        self.openDuration = openDuration
    }

    func permit(_ key: String, now: ContinuousClock.Instant = .now) -> Permit {
        states.withLock { states in
            switch states[key] ?? .closed(failures: 0) {
            case .closed: return .allowed
            case .open(let until) where now >= until:
                states[key] = .halfOpen
                return .trial
            case .open, .halfOpen: return .refused
            }
        }
    }

    func succeeded(_ key: String) {
        states.withLock { $0[key] = nil }
    }

    func failed(_ key: String, now: ContinuousClock.Instant = .now) {
        states.withLock { states in
            switch states[key] ?? .closed(failures: 0) {
            case .closed(let failures) where failures + 1 < threshold:
                states[key] = .closed(failures: failures + 1)
            default:
                states[key] = .open(until: now + openDuration)
            }
        }
    }

    func state(_ key: String) -> State {
        states.withLock { $0[key] ?? .closed(failures: 0) }
    }
}
