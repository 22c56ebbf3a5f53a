@testable import BespokeBus
import BespokeCore
import BespokeSQLite
import BespokeStorage
import Foundation
import Synchronization
import Testing

@Suite("Event bus durability, fairness and group commit")
struct EventBusDurabilityTests {
    @Test func everythingNotAcknowledgedIsDeliveredAgainAfterARestart() async throws {
        let path = temporaryDatabasePath()
        let store = try await makeStore(path: path)
        let acked = try await withRunningBus(store: store) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "s", types: [])
            _ = try await bus.publish((0..<100).map { event("e\($0)") }, tenant: acme)
            let leased = try await bus.receive(tenant: acme, subscription: "s", max: 30, wait: .seconds(1))
            #expect(leased.count == 30)
            // Ack 20; 10 stay leased when the bus stops.
            #expect(try await bus.ack(tenant: acme, subscription: "s", leased.prefix(20).map(\.receipt)).isEmpty)
            return Set(leased.prefix(20).map(\.eventID))
        }
        try store.close()

        let reopened = try SQLiteStore(path: path)
        let redelivered = try await withRunningBus(store: reopened) { bus in
            var seen: [String] = []
            while true {
                let batch = try await bus.receive(tenant: acme, subscription: "s", max: 100, wait: .milliseconds(300))
                if batch.isEmpty { break }
                seen += batch.map(\.eventID)
                try await bus.ack(tenant: acme, subscription: "s", batch.map(\.receipt))
            }
            return seen
        }
        #expect(redelivered.count == 80)
        #expect(Set(redelivered).isDisjoint(with: acked))
        #expect(Set(redelivered).union(acked) == Set((0..<100).map { "e\($0)" }))
    }

    @Test func aBacklogLargerThanTheWindowIsServedFromTheStoreInOrder() async throws {
        let store = try await makeStore()
        var configuration = BusConfiguration()
        configuration.window = 16
        try await withRunningBus(store: store, configuration: configuration) { bus in
            let subscription = try await bus.createSubscription(tenant: acme, name: "s", types: [])
            for chunk in 0..<10 {
                _ = try await bus.publish((0..<50).map { event("e\(chunk * 50 + $0)", key: "one-key") }, tenant: acme)
            }
            #expect(await bus.scheduler.windowCount(subscription.id) <= 16)
            var seen: [Int] = []
            while seen.count < 500 {
                let batch = try await bus.receive(tenant: acme, subscription: "s", max: 100, wait: .seconds(2))
                try #require(!batch.isEmpty, "stalled after \(seen.count) deliveries")
                #expect(await bus.scheduler.windowCount(subscription.id) <= 16)
                seen += batch.map { Int($0.eventID.dropFirst())! }
                try await bus.ack(tenant: acme, subscription: "s", batch.map(\.receipt))
            }
            #expect(seen == Array(0..<500))
        }
    }

    @Test func oneTenantsBacklogAndFailingConsumerDoNotHoldUpAnotherTenant() async throws {
        let store = try await makeStore()
        // No publish quota: the scheduler alone must keep the tenants apart.
        var configuration = BusConfiguration()
        configuration.publishQuota = nil
        try await withRunningBus(store: store, configuration: configuration) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "flood", types: [], policy: quickPolicy(maxAttempts: 100))
            _ = try await bus.createSubscription(tenant: globex, name: "calm", types: [])
            // Acme: a large backlog and a consumer that fails everything.
            for chunk in 0..<40 {
                _ = try await bus.publish((0..<500).map { event("a\(chunk)-\($0)") }, tenant: acme)
            }
            let failing = Task {
                try await bus.consume(tenant: acme, subscription: "flood", concurrency: 4) { _ in
                    throw HandlerFailure(description: "acme consumer is broken")
                }
            }
            let flooding = Task {
                var chunk = 0
                while !Task.isCancelled {
                    _ = try? await bus.publish((0..<100).map { event("more\(chunk)-\($0)") }, tenant: acme)
                    chunk += 1
                }
            }
            let recorder = Recorder()
            let calm = Task {
                try await bus.consume(tenant: globex, subscription: "calm") { recorder.record($0) }
            }
            for index in 0..<20 {
                _ = try await bus.publish(event("g\(index)"), tenant: globex)
            }
            try await eventually("globex served") { recorder.count == 20 }
            // Globex was served while acme's backlog was still there.
            #expect(try await bus.pendingCount(tenant: acme, subscription: "flood") > 15_000)
            flooding.cancel()
            failing.cancel()
            calm.cancel()
        }
    }

    @Test func concurrentPublishersShareCommits() async throws {
        let inspecting = InspectingStore(try await makeStore())
        try await withRunningBus(store: inspecting) { bus in
            _ = try await bus.createSubscription(tenant: acme, name: "s", types: [])
            let before = inspecting.batches.count
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<400 {
                    group.addTask {
                        let receipt = try await bus.publish(event("e\(index)"), tenant: index % 2 == 0 ? acme : globex)
                        #expect(!receipt.duplicate)
                    }
                }
                try await group.waitForAll()
            }
            let commits = inspecting.batches.count - before
            #expect(commits < 100, "400 publishes took \(commits) commits")
            #expect(try await bus.pendingCount(tenant: acme, subscription: "s") == 200)
        }
    }

    @Test func batchesAreFilledRoundRobinAcrossTenants() async throws {
        let inspecting = InspectingStore(try await makeStore())
        var configuration = BusConfiguration()
        configuration.maxBatchWrites = 2
        try await withRunningBus(store: inspecting, configuration: configuration) { bus in
            inspecting.hold()
            // The first publish takes the writer and is held; ten more of acme queue behind it.
            async let first = bus.publish(event("a-first"), tenant: acme)
            try await eventually("writer holding") { inspecting.isHolding }
            let acmeTasks = (0..<10).map { index in
                Task { try await bus.publish(event("a\(index)"), tenant: acme) }
            }
            try await Task.sleep(for: .milliseconds(50))
            let globexTask = Task { try await bus.publish(event("g"), tenant: globex) }
            try await Task.sleep(for: .milliseconds(50))
            inspecting.release()
            _ = try await first
            _ = try await globexTask.value
            for task in acmeTasks { _ = try await task.value }
            let tenantsPerBatch = inspecting.batches.map { $0.map(\.tenant.rawValue) }
            let globexBatch = try #require(tenantsPerBatch.firstIndex { $0.contains("globex") })
            // Batch 0 is the held one; globex rides in the next, not behind acme's ten.
            #expect(globexBatch == 1, "batches: \(tenantsPerBatch)")
        }
    }

    @Test func theBusRefusesWorkOnceStoppedButCommitsWhatWasQueued() async throws {
        let store = try await makeStore()
        let bus = try await EventBus.open(store: store, logger: testLogger)
        let running = Task { try await bus.run() }
        _ = try await bus.createSubscription(tenant: acme, name: "s", types: [])
        let receipts = try await bus.publish((0..<10).map { event("e\($0)") }, tenant: acme)
        #expect(receipts.count == 10)
        running.cancel()
        try await running.value
        await #expect { try await bus.publish(event("late"), tenant: acme) } throws: {
            ($0 as? BespokeError)?.code == .unavailable
        }
        #expect(try await store.pendingCount(bus.subscription(tenant: acme, name: "s"), settledThrough: nil) == 10)
    }
}

@Suite("Inbox and backoff")
struct InboxAndBackoffTests {
    @Test func theInboxTurnsRedeliveriesIntoOneEffect() async throws {
        let store = try await makeStore()
        let inbox = Inbox(store: store, consumer: "ordering")
        let effects = Mutex(0)
        let delivery = Delivery(
            id: DeliveryID(1), tenant: acme, subscription: SubscriptionID(1), eventSeq: 1, eventID: "e1", source: "/shop",
            type: "T", partitionKey: nil, attempts: 0, notBefore: nil, lastError: nil, storedAt: Date(), envelope: Data()
        )
        #expect(try await inbox.process(delivery) { effects.withLock { $0 += 1 } })
        #expect(try await inbox.process(delivery) { effects.withLock { $0 += 1 } } == false)
        // A failed effect is not recorded, so the redelivery runs it again.
        var failing = delivery
        failing = Delivery(
            id: DeliveryID(2), tenant: acme, subscription: SubscriptionID(1), eventSeq: 2, eventID: "e2", source: "/shop",
            type: "T", partitionKey: nil, attempts: 0, notBefore: nil, lastError: nil, storedAt: Date(), envelope: Data()
        )
        await #expect(throws: HandlerFailure.self) {
            try await inbox.process(failing) { throw HandlerFailure(description: "x") }
        }
        #expect(try await inbox.process(failing) { effects.withLock { $0 += 1 } })
        #expect(effects.withLock { $0 } == 2)
    }

    @Test func sqliteInboxCommitsTheEffectWithTheRecord() async throws {
        let store = try await makeStore()
        try await store.pool.write { db in try db.execute(sql: "CREATE TABLE effects (event TEXT)") }
        let inbox = SQLiteInbox(pool: store.pool, consumer: "payment")
        for _ in 0..<3 {
            try await inbox.process(tenant: acme, eventKey: "e1") { db in
                try db.execute(sql: "INSERT INTO effects VALUES ('e1')")
            }
        }
        await #expect(throws: HandlerFailure.self) {
            try await inbox.process(tenant: acme, eventKey: "e2") { db in
                try db.execute(sql: "INSERT INTO effects VALUES ('e2')")
                throw HandlerFailure(description: "rolled back")
            }
        }
        let rows = try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT event FROM effects") }
        #expect(rows == ["e1"])
        #expect(try await store.isProcessed(tenant: acme, consumer: "payment", eventKey: "e2") == false)
    }

    @Test func backoffGrowsExponentiallyWithJitterAndACap() {
        let policy = DeliveryPolicy(maxAttempts: 10, initialBackoff: .seconds(1), maxBackoff: .seconds(10))
        #expect(policy.backoff(afterAttempt: 1, random: 1.0) == .seconds(1))
        #expect(policy.backoff(afterAttempt: 2, random: 1.0) == .seconds(2))
        #expect(policy.backoff(afterAttempt: 3, random: 1.0) == .seconds(4))
        #expect(policy.backoff(afterAttempt: 9, random: 1.0) == .seconds(10))
        #expect(policy.backoff(afterAttempt: 2, random: 0.5) == .seconds(1))
        let jittered = Set((0..<20).map { _ in policy.backoff(afterAttempt: 3) })
        #expect(jittered.count > 1)
        #expect(jittered.allSatisfy { $0 >= .seconds(2) && $0 <= .seconds(4) })
    }
}
