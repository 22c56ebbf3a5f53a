import CoreMetrics
import Synchronization

/// A metrics backend for benchmarks: it keeps every timer and recorder sample in memory, by
/// label, so that a benchmark can print where its time went (commit durations, batch sizes)
/// next to its own figures. Counters and gauges are ignored.
final class BenchMetrics: MetricsFactory, Sendable {
    /// The backend bootstrapped for this process, if a benchmark asked for one.
    static let shared = BenchMetrics()
    private static let bootstrapped = Mutex(false)

    private let series = Mutex<[String: LatencyRecorder]>([:])

    /// Makes ``shared`` the process's metrics backend (once; later calls do nothing).
    static func bootstrap() {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(shared) }
    }

    /// Forgets every sample (between benchmark phases).
    func reset() {
        for recorder in series.withLock({ Array($0.values) }) { recorder.reset() }
    }

    /// The samples recorded under `label` (nanoseconds for timers, raw values for recorders).
    func samples(_ label: String) -> LatencyRecorder {
        series.withLock { series in
            if let recorder = series[label] { return recorder }
            let recorder = LatencyRecorder()
            series[label] = recorder
            return recorder
        }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Ignored() }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler { Ignored() }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { Ignored() }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Sampled(samples(label))
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Sampled(samples(label)) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    private final class Sampled: RecorderHandler, TimerHandler, Sendable {
        let recorder: LatencyRecorder
        init(_ recorder: LatencyRecorder) { self.recorder = recorder }
        func record(_ value: Int64) { recorder.record(UInt64(max(value, 0))) }
        func record(_ value: Double) { recorder.record(value.isFinite ? UInt64(min(max(value, 0), 1e18)) : 0) }
        func recordNanoseconds(_ duration: Int64) { recorder.record(UInt64(max(duration, 0))) }
    }

    private final class Ignored: CounterHandler, FloatingPointCounterHandler, MeterHandler, Sendable {
        func increment(by: Int64) {}
        func increment(by: Double) {}
        func reset() {}
        func set(_ value: Int64) {}
        func set(_ value: Double) {}
        func decrement(by: Double) {}
    }
}
