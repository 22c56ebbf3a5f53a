import Dispatch
import Synchronization

/// Collects latencies (nanoseconds) from many tasks and reports percentiles.
final class LatencyRecorder: Sendable {
    private let samples = Mutex<[UInt64]>([])

    func record(_ nanoseconds: UInt64) {
        samples.withLock { $0.append(nanoseconds) }
    }

    var count: Int { samples.withLock { $0.count } }

    func reset() { samples.withLock { $0.removeAll(keepingCapacity: true) } }

    /// p50, p99 and p999 in milliseconds.
    func percentiles() -> (p50: Double, p99: Double, p999: Double) {
        let values = quantiles([0.50, 0.99, 0.999]).map { Double($0) / 1e6 }
        return (values[0], values[1], values[2])
    }

    /// p50, p99 and the largest sample, as recorded (for samples that are not latencies).
    func rawPercentiles() -> (p50: UInt64, p99: UInt64, max: UInt64) {
        let values = quantiles([0.50, 0.99, 1])
        return (values[0], values[1], values[2])
    }

    /// The samples at quantiles `qs` (1 is the largest); zeros when there are none.
    private func quantiles(_ qs: [Double]) -> [UInt64] {
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return qs.map { _ in 0 } }
        return qs.map { sorted[min(sorted.count - 1, Int((Double(sorted.count) * $0).rounded(.down)))] }
    }
}

/// Monotonic nanoseconds, comparable across tasks of this process.
func monotonicNanos() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}
