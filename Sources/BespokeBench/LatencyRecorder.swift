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
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return (0, 0, 0) }
        func at(_ q: Double) -> Double {
            Double(sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.down)))]) / 1e6
        }
        return (at(0.50), at(0.99), at(0.999))
    }

    /// p50, p99 and the largest sample, as recorded (for samples that are not latencies).
    func rawPercentiles() -> (p50: UInt64, p99: UInt64, max: UInt64) {
        let sorted = samples.withLock { $0 }.sorted()
        guard let last = sorted.last else { return (0, 0, 0) }
        func at(_ q: Double) -> UInt64 { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.down)))] }
        return (at(0.50), at(0.99), last)
    }
}

/// Monotonic nanoseconds, comparable across tasks of this process.
func monotonicNanos() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}
