import BespokeBus
import BespokeCore
public import BespokeSQLite
import BespokeStorage
import Foundation
import Logging
import Synchronization

/// Options of `bespoke bench bus`.
public struct BusBenchmarkOptions: Sendable {
    public var tenants = 4
    public var subscriptionsPerTenant = 2
    public var events = 40_000
    public var payloadBytes = 256
    public var publishersPerTenant = 32
    public var publishBatch = 1
    public var pacedSeconds = 5.0
    public var victimRate = 500.0
    /// Publishers per tenant in the paced phases (each sends its share on a schedule).
    public var pacedPublishers = 64
    public var durability: SQLiteStore.Durability = .full
    public var maxBatchWrites = BusConfiguration().maxBatchWrites
    /// Publishers of the flooding tenant in the fairness phase.
    public var floodPublishers = 32
    /// The per-tenant publish quota (events/s) of the fairness phase's second flood.
    public var floodQuota = PublishQuota().eventsPerSecond
    public var directory: String

    public init(directory: String) {
        self.directory = directory
    }
}

/// Publishes and consumes through the bus and prints throughput and publish-to-deliver
/// latency next to the raw SQLite baseline measured in the same run on the same disk.
public enum BusBenchmark {
    public static func run(_ options: BusBenchmarkOptions, report: @Sendable (String) -> Void) async throws {
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        BenchMetrics.bootstrap()
        // An envelope as the benchmark's events carry: its id as long as theirs.
        let envelope = sampleEvent(options, tenant: "t0", id: "e-\(monotonicNanos())-\(options.events)-\(options.events)").encoded()
        let envelopeBytes = envelope.count
        report("bespoke bench bus: \(options.tenants) tenants x \(options.subscriptionsPerTenant) subscriptions, "
            + "\(options.events) events, envelope \(envelopeBytes) B, durability \(options.durability.rawValue), "
            + "\(options.publishersPerTenant) publishers/tenant, batch \(options.publishBatch), "
            + "\(options.maxBatchWrites) writes/commit at most, flood \(options.floodPublishers) publishers")

        let raw = try RawInsertBaseline.measure(
            path: path(options, "raw"), rows: options.events, rowBytes: envelopeBytes,
            batch: options.maxBatchWrites, durability: options.durability
        )
        report(String(format: "raw SQLite batched inserts (same disk, same row size): %.0f rows/s", raw))

        let tenants = (0..<options.tenants).map { TenantID(trusted: "t\($0)") }
        let peak = try await withBench(options, name: "peak", tenants: tenants, report: report) { bench in
            let start = monotonicNanos()
            let cpuBefore = ProcessCPUTime.seconds()
            try await publishAsFastAsPossible(bench, options: options, tenants: tenants, eventsPerTenant: options.events / options.tenants)
            try await bench.waitForDeliveries(options.events / options.tenants * options.tenants * options.subscriptionsPerTenant)
            let seconds = Double(monotonicNanos() - start) / 1e9
            let cpu = ProcessCPUTime.seconds().flatMap { after in cpuBefore.map { after - $0 } }
            let sweep = try await sweepSettledEvents(bench)
            return (Double(options.events) / seconds, bench.latencies.percentiles(), cpu, sweep)
        }
        report(String(
            format: "bus peak: %.0f events/s published and delivered to %d subscriptions each (%.0f deliveries/s) = %.1f%% of raw",
            peak.0, options.subscriptionsPerTenant, peak.0 * Double(options.subscriptionsPerTenant), peak.0 / raw * 100
        ))
        if let cpu = peak.2 {
            report(String(format: "  CPU per event (publish, store, deliver to each subscription, ack; this process): %.0f µs", cpu / Double(options.events) * 1e6))
        }
        report(String(format: "  publish->deliver at peak (saturated): p50 %.2f ms, p99 %.2f ms, p999 %.2f ms", peak.1.p50, peak.1.p99, peak.1.p999))
        report(String(
            format: "  retention, then: %d settled events deleted in %.2f s (%.0f/s), %d looked at a step (a read, then a write of what it deletes): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
            peak.3.deleted, peak.3.seconds, Double(peak.3.deleted) / max(peak.3.seconds, 1e-9), EventBus.retentionBatch,
            peak.3.transaction.p50, peak.3.transaction.p99, peak.3.transaction.max
        ))

        let half = peak.0 / 2
        let paced = try await withBench(options, name: "half", tenants: tenants, report: report) { bench in
            let started = monotonicNanos()
            let sent = try await publishPaced(bench, options: options, tenants: tenants, ratePerTenant: half / Double(options.tenants))
            let reached = Double(sent * tenants.count) / (Double(monotonicNanos() - started) / 1e9)
            try await bench.waitForDeliveries(sent * tenants.count * options.subscriptionsPerTenant)
            return (bench.latencies.percentiles(), bench.confirmations.percentiles(), reached)
        }
        report(String(
            format: "bus at half peak (%.0f events/s asked, %.0f reached, for %.0f s): publish->deliver p50 %.2f ms, p99 %.2f ms, "
                + "p999 %.2f ms; publish->confirm p50 %.2f ms, p99 %.2f ms (from when each event was due)",
            half, paced.2, options.pacedSeconds, paced.0.p50, paced.0.p99, paced.0.p999, paced.1.p50, paced.1.p99
        ))
        // The floors: the same loads with no bus (see `RawInsertBaseline`).
        let storeFloor = { @Sendable (name: String, rate: Double, tenants: [TenantID], measuring: TenantID?) in
            try await RawInsertBaseline.pacedStoreLatency(
                path: path(options, name), rate: rate, seconds: options.pacedSeconds, maxBatch: options.maxBatchWrites,
                envelope: envelope, tenants: tenants, measuring: measuring, durability: options.durability, logger: quietLogger
            )
        }
        let floor = try await RawInsertBaseline.pacedLatency(
            path: path(options, "raw-paced"), rate: half, seconds: options.pacedSeconds, maxBatch: options.maxBatchWrites,
            rowBytes: envelopeBytes, durability: options.durability, logger: quietLogger
        )
        report(String(
            format: "  floor, raw rows: SQLite group commit at the same rate (same disk, row size, durability; one writer, no bus): "
                + "due->committed p50 %.2f ms, p99 %.2f ms, p999 %.2f ms",
            floor.p50, floor.p99, floor.p999
        ))
        let store = try await storeFloor("store-paced", half, tenants, nil)
        report(String(
            format: "  floor, the bus's store: its events table (idempotency key, per-tenant order) group-committed at the same rate, "
                + "%d tenants, no bus: due->committed p50 %.2f ms, p99 %.2f ms, p999 %.2f ms",
            tenants.count, store.p50, store.p99, store.p999
        ))

        let victim = TenantID(trusted: "victim")
        let flood = TenantID(trusted: "flood")
        let alone = try await withBench(options, name: "alone", tenants: [victim, flood], report: report) { bench in
            let sent = try await publishPaced(bench, options: options, tenants: [victim], ratePerTenant: options.victimRate)
            try await bench.waitForDeliveries(sent * options.subscriptionsPerTenant)
            return bench.latencies(of: victim).percentiles()
        }
        let unlimited = try await flooded(options, name: "flooded", victim: victim, flood: flood, quota: nil, report: report)
        report(String(
            format: "fairness: victim at %.0f events/s alone: p99 %.2f ms (p50 %.2f); with tenant 'flood' saturating the bus, no quota "
                + "(%d flood deliveries): p99 %.2f ms (p50 %.2f) = %.2fx",
            options.victimRate, alone.p99, alone.p50, unlimited.1, unlimited.0.p99, unlimited.0.p50, unlimited.0.p99 / max(alone.p99, 0.001)
        ))
        let quota = PublishQuota(eventsPerSecond: options.floodQuota, burst: 2 * options.floodQuota)
        let limited = try await flooded(options, name: "flooded-quota", victim: victim, flood: flood, quota: quota, report: report)
        report(String(
            format: "fairness: with tenant 'flood' publishing flat out against a quota of %.0f events/s per tenant "
                + "(%d flood deliveries): victim p99 %.2f ms (p50 %.2f) = %.2fx",
            options.floodQuota, limited.1, limited.0.p99, limited.0.p50, limited.0.p99 / max(alone.p99, 0.001)
        ))
        // The same two loads on the bus's store with no bus: what sharing one store's commits
        // and disk costs the victim by itself.
        let floodShare = max(1, Int((options.floodQuota / options.victimRate).rounded()))
        let floodRate = options.victimRate * Double(floodShare)
        let victimAlone = try await storeFloor("store-victim", options.victimRate, [victim], nil)
        let victimShared = try await storeFloor(
            "store-shared", options.victimRate + floodRate, [victim] + Array(repeating: flood, count: floodShare), victim
        )
        report(String(
            format: "  floor, the bus's store: the victim's events at %.0f/s alone p99 %.2f ms (p50 %.2f); sharing commits with "
                + "'flood' at %.0f/s p99 %.2f ms (p50 %.2f) = %.2fx",
            options.victimRate, victimAlone.p99, victimAlone.p50, floodRate, victimShared.p99, victimShared.p50,
            victimShared.p99 / max(victimAlone.p99, 0.001)
        ))
        // And with a store each, on the same disk, written at the same time: what sharing only
        // the disk costs.
        async let floodOwn = storeFloor("store-flood-own", floodRate, [flood], nil)
        let victimOwn = try await storeFloor("store-victim-own", options.victimRate, [victim], nil)
        _ = try await floodOwn
        report(String(
            format: "  floor, a store each: the victim's events in a store of their own while 'flood' writes its own on the same disk: "
                + "p99 %.2f ms (p50 %.2f) = %.2fx",
            victimOwn.p99, victimOwn.p50, victimOwn.p99 / max(victimAlone.p99, 0.001)
        ))
    }

    /// The victim publishing at its steady rate while `flood` publishes as fast as it is let.
    static func flooded(
        _ options: BusBenchmarkOptions, name: String, victim: TenantID, flood: TenantID, quota: PublishQuota?,
        report: @Sendable (String) -> Void
    ) async throws -> ((p50: Double, p99: Double, p999: Double), Int) {
        try await withBench(options, name: name, tenants: [victim, flood], quota: quota, report: report) { bench in
            let stop = Locked(false)
            async let flooding: Void = {
                while !stop.value {
                    var flooding = options
                    flooding.publishersPerTenant = options.floodPublishers
                    do {
                        try await publishAsFastAsPossible(bench, options: flooding, tenants: [flood], eventsPerTenant: 5_000)
                    } catch let error as BespokeError where error.code == .rateLimited {
                        // Past what pacing absorbs: back off as told, as a well-behaved publisher does.
                        try await Task.sleep(for: .seconds(error.retryAfterSeconds ?? 1))
                    }
                }
            }()
            let sent = try await publishPaced(bench, options: options, tenants: [victim], ratePerTenant: options.victimRate)
            stop.set(true)
            try await flooding
            try await bench.waitForDeliveries(sent * options.subscriptionsPerTenant, of: victim)
            return (bench.latencies(of: victim).percentiles(), bench.deliveries(of: flood))
        }
    }

    // MARK: Workloads

    static func sampleEvent(_ options: BusBenchmarkOptions, tenant: String, id: String) -> CloudEvent {
        var event = CloudEvent(
            id: id, source: "/bench", type: "BenchEvent",
            data: .object(["pad": .string(padding(options.payloadBytes))])
        )
        event.tenantID = tenant
        event.time = "2026-01-01T00:00:00.000Z"
        return event
    }

    private static let pads = Mutex<[Int: String]>([:])

    static func padding(_ bytes: Int) -> String {
        pads.withLock { cache in
            if let pad = cache[bytes] { return pad }
            let pad = String(repeating: "x", count: bytes)
            cache[bytes] = pad
            return pad
        }
    }

    static func publishAsFastAsPossible(_ bench: Bench, options: BusBenchmarkOptions, tenants: [TenantID], eventsPerTenant: Int) async throws {
        let batch = max(options.publishBatch, 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for tenant in tenants {
                for publisher in 0..<options.publishersPerTenant {
                    group.addTask {
                        var index = publisher * batch
                        while index < eventsPerTenant {
                            let count = min(batch, eventsPerTenant - index)
                            let now = monotonicNanos()
                            let events = (0..<count).map { offset in
                                sampleEvent(options, tenant: tenant.rawValue, id: "e-\(now)-\(bench.nextID())-\(index + offset)")
                            }
                            _ = try await bench.bus.publish(events, tenant: tenant)
                            index += options.publishersPerTenant * batch
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Publishes single events at a steady rate per tenant for `pacedSeconds`, from
    /// ``BusBenchmarkOptions/pacedPublishers`` publishers per tenant (each a client sending on
    /// its own schedule, interleaved with the others); returns how many per tenant.
    static func publishPaced(_ bench: Bench, options: BusBenchmarkOptions, tenants: [TenantID], ratePerTenant: Double) async throws -> Int {
        let sentPerTenant = Int(options.pacedSeconds * ratePerTenant)
        let publishers = max(1, min(options.pacedPublishers, sentPerTenant))
        let start = monotonicNanos()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for tenant in tenants {
                for publisher in 0..<publishers {
                    group.addTask {
                        // Event n of the tenant is due at n / rate; this publisher sends every
                        // `publishers`-th one. Latency counts from when an event was due, so a
                        // publisher held up by a slow confirm does not hide the delay from the
                        // figures (no coordinated omission).
                        for index in stride(from: publisher, to: sentPerTenant, by: publishers) {
                            let due = start + UInt64(Double(index) / ratePerTenant * 1e9)
                            let now = monotonicNanos()
                            if due > now { try await Task.sleep(for: .nanoseconds(Int64(due - now))) }
                            let reference = min(due, monotonicNanos())
                            let event = sampleEvent(options, tenant: tenant.rawValue, id: "e-\(reference)-\(bench.nextID())-\(index)")
                            _ = try await bench.bus.publish(event, tenant: tenant)
                            bench.confirmations.record(monotonicNanos() - reference)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return sentPerTenant
    }

    /// Deletes the phase's settled events as the bus's retention does, all of them past it, and
    /// times each step (its read, then the write a commit of the bus can wait behind).
    static func sweepSettledEvents(
        _ bench: Bench
    ) async throws -> (deleted: Int, seconds: Double, transaction: (p50: Double, p99: Double, max: Double)) {
        // Acks reach the stored cursors within the bus's cursor flush interval.
        try await Task.sleep(for: .milliseconds(500))
        let transactions = LatencyRecorder()
        let cutoff = Date().addingTimeInterval(1)
        var deleted = 0
        var position: Int64?
        let start = monotonicNanos()
        repeat {
            let began = monotonicNanos()
            let step = try await bench.store.deleteSettledEvents(storedBefore: cutoff, after: position, limit: EventBus.retentionBatch)
            transactions.record(monotonicNanos() - began)
            deleted += step.deleted
            position = step.resumeAfter
        } while position != nil
        let times = transactions.rawPercentiles()
        return (
            deleted, Double(monotonicNanos() - start) / 1e9,
            (Double(times.p50) / 1e6, Double(times.p99) / 1e6, Double(times.max) / 1e6)
        )
    }

    static func path(_ options: BusBenchmarkOptions, _ name: String) -> String {
        (options.directory as NSString).appendingPathComponent("bench-\(name)-\(UUID().uuidString).sqlite")
    }

    /// Runs `body` against a fresh store and bus with consumers on every subscription.
    static func withBench<T: Sendable>(
        _ options: BusBenchmarkOptions, name: String, tenants: [TenantID], quota: PublishQuota? = nil,
        report: @Sendable (String) -> Void, _ body: @Sendable (Bench) async throws -> T
    ) async throws -> T {
        let store = try SQLiteStore(path: path(options, name), durability: options.durability)
        for tenant in tenants {
            try await store.createTenant(TenantRecord(id: tenant, name: tenant.rawValue, createdAt: Date()))
        }
        let logger = quietLogger
        var configuration = BusConfiguration()
        configuration.maxBatchWrites = options.maxBatchWrites
        // Capacity is measured without quotas; the fairness phase sets one where it says so.
        configuration.publishQuota = quota
        let bus = try await EventBus.open(store: store, configuration: configuration, logger: logger)
        let bench = Bench(bus: bus, store: store, tenants: tenants)
        for tenant in tenants {
            for index in 0..<options.subscriptionsPerTenant {
                _ = try await bus.createSubscription(tenant: tenant, name: "s\(index)", types: [])
            }
        }
        BenchMetrics.shared.reset()
        let running = Task { try await bus.run() }
        let checkpointer = Task { try await SQLiteCheckpointer(store: store, logger: logger).run() }
        // Consumers stop before the bus, as the product's services do under ServiceLifecycle.
        let result = try await withThrowingTaskGroup(of: T?.self) { group in
            for tenant in tenants {
                for index in 0..<options.subscriptionsPerTenant {
                    group.addTask {
                        try await bus.consume(tenant: tenant, subscription: "s\(index)", concurrency: 2, batchSize: 64) { delivery in
                            bench.delivered(delivery)
                        }
                        return nil
                    }
                }
            }
            let result = try await body(bench)
            group.cancelAll()
            return result
        }
        running.cancel()
        try await running.value
        checkpointer.cancel()
        try await checkpointer.value
        try store.close()
        report(commitProfile(name))
        return result
    }

    /// The benchmark's logger: errors only, so the figures stand out.
    static var quietLogger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return logger
    }

    /// Where the phase's commits spent their time, from the bus's own metrics.
    static func commitProfile(_ phase: String) -> String {
        let metrics = BenchMetrics.shared
        let sizes = metrics.samples("bespoke_bus_commit_batch_writes")
        let commitSamples = metrics.samples("bespoke_bus_commit_duration")
        let commits = commitSamples.percentiles()
        let maxCommit = Double(commitSamples.rawPercentiles().max) / 1e6
        let handoff = metrics.samples("bespoke_bus_commit_handoff_duration").percentiles()
        let writes = sizes.rawPercentiles()
        let restarts = metrics.samples("bespoke_sqlite_checkpoint_restart_duration")
        let passive = metrics.samples("bespoke_sqlite_checkpoint_passive_duration").rawPercentiles()
        return "  [\(phase)] \(sizes.count) commits, writes/commit p50 \(writes.p50) p99 \(writes.p99) max \(writes.max); "
            + String(
                format: "commit p50 %.2f ms p99 %.2f ms max %.2f ms; handoff to scheduler p50 %.2f ms p99 %.2f ms; "
                    + "WAL checkpoints: passive max %.2f ms, %d restarts (writers wait), max %.2f ms",
                commits.p50, commits.p99, maxCommit, handoff.p50, handoff.p99,
                Double(passive.max) / 1e6, restarts.count, Double(restarts.rawPercentiles().max) / 1e6
            )
    }
}

/// Shared state of one benchmark phase.
final class Bench: Sendable {
    let bus: EventBus
    let store: SQLiteStore
    let latencies = LatencyRecorder()
    /// Publish-to-confirm (durably stored) latencies of paced publishes.
    let confirmations = LatencyRecorder()
    private let perTenant: [TenantID: LatencyRecorder]
    private let counter = Mutex(0)
    private let ids = Mutex(0)

    init(bus: EventBus, store: SQLiteStore, tenants: [TenantID]) {
        self.bus = bus
        self.store = store
        self.perTenant = Dictionary(uniqueKeysWithValues: tenants.map { ($0, LatencyRecorder()) })
    }

    func nextID() -> Int { ids.withLock { $0 += 1; return $0 } }

    /// Records publish-to-deliver latency from the start time carried in the event id.
    func delivered(_ delivery: Delivery) {
        guard let start = Self.startNanos(delivery.eventID) else { return }
        let latency = monotonicNanos() &- start
        latencies.record(latency)
        perTenant[delivery.tenant]?.record(latency)
        counter.withLock { $0 += 1 }
    }

    /// The instant an event id `e-<nanos>-…` carries (read without splitting the id: this runs
    /// for every delivery, in the process being measured).
    static func startNanos(_ id: String) -> UInt64? {
        guard id.utf8.starts(with: "e-".utf8) else { return nil }
        var value: UInt64 = 0
        var digits = 0
        for byte in id.utf8.dropFirst(2) {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
            value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    func latencies(of tenant: TenantID) -> LatencyRecorder { perTenant[tenant] ?? LatencyRecorder() }
    func deliveries(of tenant: TenantID) -> Int { perTenant[tenant]?.count ?? 0 }

    func waitForDeliveries(_ count: Int, of tenant: TenantID? = nil, timeout: Double = 300) async throws {
        let start = monotonicNanos()
        while (tenant.map { deliveries(of: $0) } ?? counter.withLock { $0 }) < count {
            if Double(monotonicNanos() - start) / 1e9 > timeout {
                throw BespokeError(.unavailable, "benchmark timed out waiting for deliveries")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// A value shared between benchmark tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func set(_ value: Value) { mutex.withLock { $0 = value } }
}
