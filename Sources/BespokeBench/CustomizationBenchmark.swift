import AsyncHTTPClient
import BespokeAPI
import BespokeCore
import BespokeCustomization
public import BespokeSQLite
import BespokeServer
import BespokeWebhooks
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Options of `bespoke bench customization`.
public struct CustomizationBenchmarkOptions: Sendable {
    /// Sequential intercept-to-resume round trips measured (after a warm-up).
    public var roundTrips = 2000
    /// Observed events pushed in the deliveries phase.
    public var deliveries = 60_000
    /// Tenants, each with one observer endpoint, in the deliveries phase.
    public var observerTenants = 4
    /// Pushes in flight per endpoint.
    public var endpointConcurrency = 16
    public var payloadBytes = 256
    /// Seconds wrk runs against the receiver.
    public var wrkSeconds = 5
    public var durability: SQLiteStore.Durability = .full
    /// The `bespoke` executable: when set, the deliveries phase pushes to a receiver running
    /// as a process of its own (`bespoke bench receiver`), as wrk's target is.
    public var receiverExecutable: String?
    public var directory: String

    public init(directory: String) {
        self.directory = directory
    }
}

/// Measures customization on loopback, through the real HTTP server, dispatcher and store:
///
/// - intercept-to-resume: an event is published and held; the dispatcher pushes it, signed,
///   to a minimal receiver, which answers and resumes it through the tenant API; the product's
///   consumer receives it. Timed from publish to the product's receipt, one event at a time.
/// - signed deliveries/s: observers' pushes of a backlog to a fast receiver, next to the
///   request rate `wrk` reaches against that same receiver with bodies of the same size.
public enum CustomizationBenchmark {
    public static func run(_ options: CustomizationBenchmarkOptions, report: @escaping @Sendable (String) -> Void) async throws {
        guard options.roundTrips >= 1, options.observerTenants >= 1, options.deliveries >= options.observerTenants,
            options.endpointConcurrency >= 1
        else {
            throw BenchError("needs a round trip, an observer tenant, a delivery for each, and a push in flight per endpoint")
        }
        var (configuration, logger) = try BenchServer.configuration(directory: options.directory, durability: options.durability)
        configuration.customization.outbound.allowLoopback = true
        configuration.customization.endpointConcurrency = options.endpointConcurrency
        // The receiver resumes about a thousand held events a second through the tenant API,
        // above the default rate limit (500 a second after a burst of 1000): that limit would
        // answer 429 and slow the round trips it measures.
        configuration.gateway.rateLimit = 1_000_000_000
        configuration.gateway.rateBurst = 1_000_000_000
        let platform = try await openPlatform(configuration, logger: logger)

        let interceptingTenant = TenantID(trusted: "bench")
        let bench = try await TenantOnboarding.createTenant(id: "bench", name: nil, tenants: platform.store, keys: platform.store)
        let observerTenants = try (0..<options.observerTenants).map { try TenantID(validating: "observer-\($0)") }
        for tenant in observerTenants {
            _ = try await TenantOnboarding.createTenant(id: tenant.rawValue, name: nil, tenants: platform.store, keys: platform.store)
        }

        let receiver = try await BenchReceiver.start(tenantKey: bench.secret)
        let (platformPort, server) = try await BenchServer.serve(platform, configuration, logger: logger)
        receiver.platformURL.withLock { $0 = "http://127.0.0.1:\(platformPort)" }
        defer {
            server.cancel()
            receiver.stop()
        }

        let manager = platform.manager
        let schema: JSONValue = .object(["type": .string("object")])
        try await manager.putCatalogEntry(type: "BenchHeld", summary: "", schema: schema, interceptable: true, mutableFields: [])
        try await manager.putCatalogEntry(type: "BenchObserved", summary: "", schema: schema, interceptable: false, mutableFields: [])
        _ = try await manager.register(tenant: interceptingTenant, eventType: "BenchHeld", mode: .intercept, url: receiver.url("intercept"))
        let fastReceiver = try options.receiverExecutable.map { try ReceiverProcess.start(executable: $0) }
        defer { fastReceiver?.stop() }
        let fastURL = fastReceiver?.url("fast") ?? receiver.url("fast")
        let fastCount: @Sendable () async -> Int = {
            guard let fastReceiver else { return receiver.fastCount }
            return await fastReceiver.count()
        }
        var observers: [(TenantID, String)] = []
        for tenant in observerTenants {
            let (registered, _) = try await manager.register(
                tenant: tenant, eventType: "BenchObserved", mode: .observe, url: fastURL,
                TenantManager.Changes(enabled: false)
            )
            observers.append((tenant, registered.id))
        }
        let payload = String(repeating: "x", count: options.payloadBytes)
        let sample = CloudEvent(id: "sample-0000000", source: "/bench", type: "BenchObserved", data: .object(["payload": .string(payload)]))
        report("bespoke bench customization: durability \(options.durability.rawValue), envelope \(sample.encoded().count) B, "
            + "\(options.roundTrips) round trips, \(options.deliveries) deliveries to \(options.observerTenants) endpoints "
            + "x \(options.endpointConcurrency) in flight")

        // Intercept-to-resume.
        let bus = platform.bus
        _ = try await bus.createSubscription(tenant: interceptingTenant, name: "product", types: ["BenchHeld"])
        let arrivals = ArrivalWaiters()
        let consumer = Task {
            while !Task.isCancelled {
                let batch = try await bus.receive(tenant: interceptingTenant, subscription: "product", max: 100, wait: .seconds(1))
                guard !batch.isEmpty else { continue }
                _ = try await bus.ack(tenant: interceptingTenant, subscription: "product", batch.map(\.receipt))
                for delivery in batch { arrivals.arrived(delivery.eventID) }
            }
        }
        defer { consumer.cancel() }
        let roundTrips = LatencyRecorder()
        let pushes = LatencyRecorder()
        let warmUp = min(200, options.roundTrips / 10)
        for index in 0..<(warmUp + options.roundTrips) {
            let id = "held-\(index)"
            var event = CloudEvent(id: id, source: "/bench", type: "BenchHeld", data: .object(["payload": .string(payload)]))
            event.partitionKey = "order-\(index)"
            let start = monotonicNanos()
            receiver.expectPush(id, at: start)
            let arrived = await arrivals.wait(for: id, timeout: .seconds(30)) { [event] in
                _ = try? await bus.publish(event, tenant: interceptingTenant)
            }
            guard arrived else {
                let resume = receiver.resumeFailure(of: id).map { "its resume failed (\($0))" } ?? "no failed resume of it was seen"
                throw BenchError("\(id) did not reach the product within 30 s; \(resume)")
            }
            guard index >= warmUp else { continue }
            roundTrips.record(monotonicNanos() - start)
            if let pushed = receiver.pushLatency(id) { pushes.record(pushed) }
        }
        let trip = roundTrips.percentiles()
        let push = pushes.percentiles()
        report(String(format: "intercept-to-resume round trip (publish -> held -> signed push -> resume over HTTP -> product): p50 %.2f ms, p99 %.2f ms, p999 %.2f ms",
                      trip.p50, trip.p99, trip.p999))
        report(String(format: "  of which publish -> push received: p50 %.2f ms, p99 %.2f ms", push.p50, push.p99))

        // Signed deliveries/s: a backlog, then the observers are enabled.
        let perTenant = options.deliveries / max(1, observerTenants.count)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for tenant in observerTenants {
                group.addTask {
                    for start in stride(from: 0, to: perTenant, by: 200) {
                        let events = (start..<min(start + 200, perTenant)).map { index in
                            CloudEvent(id: "obs-\(index)", source: "/bench", type: "BenchObserved", data: .object(["payload": .string(payload)]))
                        }
                        _ = try await bus.publish(events, tenant: tenant)
                    }
                }
            }
            try await group.waitForAll()
        }
        let before = await fastCount()
        let total = perTenant * observerTenants.count
        guard let firstObserver = observers.first else { return }
        for (tenant, id) in observers {
            _ = try await manager.update(tenant: tenant, id: id, TenantManager.Changes(enabled: true))
        }
        // Timed from the first push received, as wrk's rate is: not the dispatcher's pick-up of
        // the enabled observers (up to a reconcile interval) nor the first connections.
        let deadline = ContinuousClock.now + .seconds(300)
        var first = await fastCount()
        while first == before, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
            first = await fastCount()
        }
        let started = monotonicNanos()
        let cpuBefore = (platform: ProcessCPUTime.seconds(), receiver: fastReceiver?.cpuSeconds)
        while await fastCount() - before < total, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let seconds = Double(monotonicNanos() - started) / 1e9
        let delivered = await fastCount() - first
        let rate = Double(delivered) / seconds
        let placement = fastReceiver == nil ? "receiver in this process" : "receiver in its own process"
        report(String(format: "signed webhook deliveries (%@): %d in %.2f s from the first one received = %.0f deliveries/s",
                      placement, delivered, seconds, rate))
        if delivered > 0, let before = cpuBefore.platform, let after = ProcessCPUTime.seconds() {
            var line = String(format: "  CPU per delivery: platform %.0f µs", (after - before) / Double(delivered) * 1e6)
            if let before = cpuBefore.receiver, let after = fastReceiver?.cpuSeconds {
                line += String(format: ", receiver %.0f µs", (after - before) / Double(delivered) * 1e6)
            }
            report(line)
        }

        // The same receiver under a plain HTTP load generator: the same requests as the pushes
        // (body and headers, signature included), then the body with only its content type.
        let connections = options.observerTenants * options.endpointConcurrency
        guard Wrk.executable != nil else {
            report("wrk not found (apt-get install wrk): no load-generator baseline in this run")
            return
        }
        let secret = WebhookSecret.generate()
        var pushHeaders = ["Content-Type": "application/cloudevents+json", "User-Agent": "Bespoke-Webhooks/1"]
        for (name, value) in WebhookSignature.headers(
            id: "\(firstObserver.1)-1", timestamp: Int64(Date().timeIntervalSince1970), body: sample.encoded(), secrets: [secret]
        ) {
            pushHeaders[name] = value
        }
        let loads: [(label: String, headers: [String: String])] = [
            ("the pushes' headers", pushHeaders),
            ("only a content type", ["Content-Type": "application/cloudevents+json"]),
        ]
        for load in loads {
            let receiverBefore = fastReceiver?.cpuSeconds
            let wrkRun = try Wrk.run(
                url: fastURL, method: "POST", body: String(decoding: sample.encoded(), as: UTF8.self), headers: load.headers,
                connections: connections, seconds: options.wrkSeconds, directory: options.directory
            )
            let wrk = wrkRun.requestsPerSecond
            var line = String(format: "wrk against the same receiver (%d connections, same body, %@): %.0f requests/s; deliveries = %.1f%% of it",
                              connections, load.label, wrk, rate / wrk * 100)
            if let before = receiverBefore, let after = fastReceiver?.cpuSeconds, wrkRun.requests > 0 {
                line += String(format: "; receiver CPU %.0f µs a request", (after - before) / Double(wrkRun.requests) * 1e6)
            }
            report(line)
        }
    }
}

/// Lets the round-trip loop wait until the product's consumer received an event.
final class ArrivalWaiters: Sendable {
    private let waiters = Mutex<[String: CheckedContinuation<Bool, Never>]>([:])

    /// Registers, then runs `start`, then waits until `id` arrives. - Returns: false when it
    /// has not arrived within `timeout`.
    func wait(for id: String, timeout: Duration, after start: @escaping @Sendable () async -> Void) async -> Bool {
        var expiry: Task<Void, any Error>?
        defer { expiry?.cancel() }
        return await withCheckedContinuation { continuation in
            waiters.withLock { $0[id] = continuation }
            expiry = Task {
                try await Task.sleep(for: timeout)
                self.settle(id, arrived: false)
            }
            Task { await start() }
        }
    }

    func arrived(_ id: String) {
        settle(id, arrived: true)
    }

    private func settle(_ id: String, arrived: Bool) {
        let waiter = waiters.withLock { $0.removeValue(forKey: id) }
        waiter?.resume(returning: arrived)
    }
}
