@testable import BespokeBus
import BespokeCore
import BespokeSQLite
import BespokeStorage
import Foundation
import Logging
import Synchronization
import Testing

let acme = TenantID(trusted: "acme")
let globex = TenantID(trusted: "globex")

/// A fresh SQLite store in a temporary directory, with the given tenants.
func makeStore(tenants: [TenantID] = [acme, globex], path: String? = nil) async throws -> SQLiteStore {
    let path = path ?? temporaryDatabasePath()
    let store = try SQLiteStore(path: path, durability: .normal)
    for tenant in tenants where try await store.tenant(tenant) == nil {
        try await store.createTenant(TenantRecord(id: tenant, name: tenant.rawValue, createdAt: Date()))
    }
    return store
}

func temporaryDatabasePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-bus-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("bus.sqlite").path
}

let testLogger: Logger = {
    var logger = Logger(label: "bus-tests")
    logger.logLevel = .critical
    return logger
}()

/// Opens a bus over `store`, runs it for the duration of `body`, then stops it.
func withRunningBus<T: Sendable>(
    store: any EventBus.Store,
    configuration: BusConfiguration = BusConfiguration(),
    interception: (any InterceptionPolicy)? = nil,
    _ body: @Sendable (EventBus) async throws -> T
) async throws -> T {
    let bus = try await EventBus.open(store: store, configuration: configuration, interception: interception, logger: testLogger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await bus.run()
            return nil
        }
        let result = try await body(bus)
        group.cancelAll()
        try await group.waitForAll()
        return result
    }
}

/// Waits until `condition` holds, failing the test after `timeout`.
func eventually(
    timeout: Duration = .seconds(10), _ what: String = "condition",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

func event(_ id: String, type: String = "OrderStarted", key: String? = nil, source: String = "/shop") -> CloudEvent {
    var event = CloudEvent(id: id, source: source, type: type, data: .object(["id": .string(id)]))
    event.partitionKey = key
    return event
}

/// Records what a consumer handled, in order.
final class Recorder: Sendable {
    private let state = Mutex<[Delivery]>([])

    func record(_ delivery: Delivery) { state.withLock { $0.append(delivery) } }
    var all: [Delivery] { state.withLock { $0 } }
    var eventIDs: [String] { all.map(\.eventID) }
    var count: Int { state.withLock { $0.count } }
}

/// Wraps a store to count and inspect transactions, and optionally hold them until released.
final class InspectingStore: EventBus.Store, Sendable {
    let inner: SQLiteStore
    private let state = Mutex<(batches: [[BusWrite]], gate: CheckedContinuation<Void, Never>?, gated: Bool)>(([], nil, false))

    init(_ inner: SQLiteStore) { self.inner = inner }

    var batches: [[BusWrite]] { state.withLock { $0.batches } }

    /// The next transaction waits until ``release()``.
    func hold() { state.withLock { $0.gated = true } }

    func release() {
        let gate = state.withLock { state in
            state.gated = false
            defer { state.gate = nil }
            return state.gate
        }
        gate?.resume()
    }

    var isHolding: Bool { state.withLock { $0.gate != nil } }

    func apply(_ writes: [BusWrite]) async throws -> [BusWriteResult] {
        let gated = state.withLock { state in
            state.batches.append(writes)
            return state.gated
        }
        if gated {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    guard state.gated else { return true }
                    state.gate = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        return try await inner.apply(writes)
    }

    func pendingDeliveries(_ subscription: Subscription, after: Int64?, limit: Int) async throws -> DeliveryPage {
        try await inner.pendingDeliveries(subscription, after: after, limit: limit)
    }
    func redeliveries(_ subscription: Subscription) async throws -> [Delivery] { try await inner.redeliveries(subscription) }
    func deadLetters(tenant: TenantID, subscription: SubscriptionID, after: DeadLetterID?, limit: Int) async throws -> [DeadLetter] {
        try await inner.deadLetters(tenant: tenant, subscription: subscription, after: after, limit: limit)
    }
    func pendingCount(_ subscription: Subscription, settledThrough: Int64?) async throws -> Int {
        try await inner.pendingCount(subscription, settledThrough: settledThrough)
    }
    func createSubscription(_ subscription: NewSubscription, at date: Date) async throws -> Subscription {
        try await inner.createSubscription(subscription, at: date)
    }
    func subscription(tenant: TenantID, name: String) async throws -> Subscription? {
        try await inner.subscription(tenant: tenant, name: name)
    }
    func subscriptions(tenant: TenantID) async throws -> [Subscription] { try await inner.subscriptions(tenant: tenant) }
    func deleteSubscription(tenant: TenantID, name: String) async throws -> Bool {
        try await inner.deleteSubscription(tenant: tenant, name: name)
    }
    func allSubscriptions() async throws -> [Subscription] { try await inner.allSubscriptions() }
    func hold(tenant: TenantID, id: Int64) async throws -> Hold? { try await inner.hold(tenant: tenant, id: id) }
    func holds(tenant: TenantID, states: [HoldState], limit: Int) async throws -> [Hold] {
        try await inner.holds(tenant: tenant, states: states, limit: limit)
    }
    func activeHolds() async throws -> [Hold] { try await inner.activeHolds() }
    func deleteSettledEvents(storedBefore date: Date, after position: Int64?, limit: Int) async throws -> EventDeletion {
        try await inner.deleteSettledEvents(storedBefore: date, after: position, limit: limit)
    }
    func subscriptionsHoldingBack(storedBefore date: Date) async throws -> [Subscription] {
        try await inner.subscriptionsHoldingBack(storedBefore: date)
    }
    func deleteClosedHolds(closedBefore date: Date, limit: Int) async throws -> Int {
        try await inner.deleteClosedHolds(closedBefore: date, limit: limit)
    }
    func markProcessed(tenant: TenantID, consumer: String, eventKey: String, at date: Date) async throws -> Bool {
        try await inner.markProcessed(tenant: tenant, consumer: consumer, eventKey: eventKey, at: date)
    }
    func isProcessed(tenant: TenantID, consumer: String, eventKey: String) async throws -> Bool {
        try await inner.isProcessed(tenant: tenant, consumer: consumer, eventKey: eventKey)
    }
    func deleteProcessed(before date: Date, limit: Int) async throws -> Int { try await inner.deleteProcessed(before: date, limit: limit) }
}

/// A bus whose retention keeps settled events 200 ms and sweeps every 50 ms.
func quickRetention() -> BusConfiguration {
    var configuration = BusConfiguration()
    configuration.eventRetention = .milliseconds(200)
    configuration.retentionSweepInterval = .milliseconds(50)
    return configuration
}

/// The ids of the events in the store's log, in log order.
func storedEventIDs(_ store: SQLiteStore) async throws -> [String] {
    try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT event_id FROM events ORDER BY seq") }
}

/// A fast retry policy for tests.
func quickPolicy(maxAttempts: Int = 5, ackTimeout: Duration = .seconds(30)) -> DeliveryPolicy {
    DeliveryPolicy(maxAttempts: maxAttempts, initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(20), ackTimeout: ackTimeout)
}

struct HandlerFailure: Error, CustomStringConvertible {
    let description: String
}
