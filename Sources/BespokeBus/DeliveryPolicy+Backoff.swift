import BespokeCore
import BespokeStorage

extension DeliveryPolicy {
    /// The delay before retry number `attempt` (1 for the first retry): exponential from
    /// `initialBackoff`, capped at `maxBackoff`, with jitter in [50%, 100%] so that consumers
    /// failing together do not retry together.
    public func backoff(afterAttempt attempt: Int, random: Double = Double.random(in: 0.5...1.0)) -> Duration {
        let exponent = Double(max(0, min(attempt - 1, 40)))
        let base = initialBackoff.seconds * pow2(exponent)
        let capped = min(base, maxBackoff.seconds)
        return .milliseconds(Int64((capped * random * 1000).rounded()))
    }

    private func pow2(_ x: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(x) { result *= 2 }
        return result
    }
}
