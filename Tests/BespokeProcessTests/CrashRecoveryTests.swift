import AsyncHTTPClient
import BespokeCore
import BespokeSQLite
import BespokeTestSupport
import Foundation
import GRDB
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Real process: crash and shutdown", .serialized)
struct CrashRecoveryTests {
    /// Publishers and a consumer run over HTTP; the server is killed with SIGKILL in the middle
    /// and restarted. Every event the server confirmed is delivered, and the consumer's inbox
    /// turns redeliveries into exactly one effect each.
    @Test func sigkillDuringPublishAndDeliveryLosesNoConfirmedEvent() async throws {
        let directory = try temporaryDirectory()
        let key = try await createTenant("acme", dataDirectory: directory)
        let client = JSONClient(key: key)
        let first = try await ServerProcess.start(dataDirectory: directory)
        let base = Locked(first.baseURL)
        let created = try await client.send(
            .POST, "\(first.baseURL)/v1/tenants/acme/subscriptions", json: #"{"name":"effects","ackTimeoutMs":5000}"#
        )
        #expect(created.status == 201)

        // The consumer's own database: effects and the inbox commit together.
        let consumerStore = try SQLiteStore(path: directory + "/consumer.sqlite")
        try await consumerStore.pool.write { db in try db.execute(sql: "CREATE TABLE effects (event_id TEXT NOT NULL)") }
        let inbox = SQLiteInbox(pool: consumerStore.pool, consumer: "effects-test")
        let tenant = try TenantID(validating: "acme")

        let confirmed = Locked<Set<String>>([])
        let attempted = Locked<Set<String>>([])
        let killed = Locked(false)
        let deliveriesSeen = Locked(0)

        let publishers = (0..<4).map { worker in
            Task {
                var index = 0
                while !killed.withLock({ $0 }) {
                    let id = "w\(worker)-\(index)"
                    attempted.withLock { _ = $0.insert(id) }
                    let event = #"{"specversion":"1.0","id":"\#(id)","source":"/crash-test","type":"Tick","partitionkey":"w\#(worker)","data":{"i":\#(index)}}"#
                    guard let result = try? await client.send(.POST, "\(base.withLock { $0 })/v1/tenants/acme/events", json: event, timeout: .seconds(5))
                    else { break }
                    if result.status == 201 || result.status == 200 { confirmed.withLock { _ = $0.insert(id) } }
                    index += 1
                }
            }
        }
        let consumer = Task {
            while !Task.isCancelled {
                let url = base.withLock { $0 } + "/v1/tenants/acme/subscriptions/effects"
                guard let pulled = try? await client.send(.POST, url + "/pull", json: #"{"max":50,"waitMs":500}"#, timeout: .seconds(5)),
                    let messages = pulled.body["messages"] as? [[String: Any]]
                else {
                    try? await Task.sleep(for: .milliseconds(100))
                    continue
                }
                var ids: [String] = []
                for message in messages {
                    guard let deliveryID = message["deliveryId"] as? String,
                        let eventID = (message["event"] as? [String: Any])?["id"] as? String
                    else { continue }
                    try await inbox.process(tenant: tenant, eventKey: "/crash-test\u{1F}" + eventID) { db in
                        try db.execute(sql: "INSERT INTO effects (event_id) VALUES (?)", arguments: [eventID])
                    }
                    ids.append(deliveryID)
                }
                deliveriesSeen.withLock { $0 += ids.count }
                let list = ids.map { "\"\($0)\"" }.joined(separator: ",")
                _ = try? await client.send(.POST, url + "/ack", json: #"{"deliveryIds":[\#(list)]}"#, timeout: .seconds(5))
            }
        }

        // Let both streams run, then kill the server without warning.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(deliveriesSeen.withLock { $0 } > 0, "the consumer should be receiving before the crash")
        first.signal(SIGKILL)
        _ = try await first.waitForExit()
        killed.withLock { $0 = true }
        for publisher in publishers { await publisher.value }
        let confirmedBeforeCrash = confirmed.withLock { $0 }
        #expect(confirmedBeforeCrash.count > 50, "too few events were published before the crash")

        let second = try await ServerProcess.start(dataDirectory: directory)
        base.withLock { $0 = second.baseURL }

        func effects() async throws -> [String] {
            try await consumerStore.pool.read { db in try String.fetchAll(db, sql: "SELECT event_id FROM effects") }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if Set(try await effects()).isSuperset(of: confirmedBeforeCrash) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // Drain what is left (events stored but unconfirmed when the server died may come too).
        try await Task.sleep(for: .milliseconds(1500))
        consumer.cancel()
        _ = await consumer.result

        let applied = try await effects()
        let missing = confirmedBeforeCrash.subtracting(applied)
        #expect(missing.isEmpty, "\(missing.count) confirmed events were never delivered: \(missing.sorted().prefix(10))")
        #expect(applied.count == Set(applied).count, "an event had more than one effect")
        #expect(Set(applied).isSubset(of: attempted.withLock { $0 }))

        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)
    }

    /// SIGTERM ends long-polls early, drains, exits 0, and keeps every stored event.
    @Test func sigtermShutsDownGracefullyAndKeepsEverything() async throws {
        let directory = try temporaryDirectory()
        let key = try await createTenant("acme", dataDirectory: directory)
        let client = JSONClient(key: key)
        let server = try await ServerProcess.start(dataDirectory: directory)
        let base = "\(server.baseURL)/v1/tenants/acme"
        #expect(try await client.send(.POST, "\(base)/subscriptions", json: #"{"name":"s"}"#).status == 201)
        #expect(try await client.send(.POST, "\(base)/subscriptions", json: #"{"name":"idle","types":["NeverPublished"]}"#).status == 201)
        for index in 0..<20 {
            let event = #"{"specversion":"1.0","id":"e\#(index)","source":"/t","type":"T"}"#
            #expect(try await client.send(.POST, "\(base)/events", json: event).status == 201)
        }
        let longPoll = Task { () -> (status: Int, messages: Int?) in
            let result = try await client.send(.POST, "\(base)/subscriptions/idle/pull", json: #"{"waitMs":25000}"#, timeout: .seconds(40))
            return (result.status, (result.body["messages"] as? [Any])?.count)
        }
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        server.signal(SIGTERM)
        #expect(try await server.waitForExit(timeout: .seconds(20)) == 0)
        #expect(ContinuousClock.now - start < .seconds(15), "the long-poll held up shutdown")
        let polled = try await longPoll.value
        #expect(polled.status == 200)
        #expect(polled.messages == 0)

        let restarted = try await ServerProcess.start(dataDirectory: directory)
        let pulled = try await client.send(.POST, "\(restarted.baseURL)/v1/tenants/acme/subscriptions/s/pull", json: #"{"max":100,"waitMs":2000}"#)
        let ids = (pulled.body["messages"] as? [[String: Any]])?.compactMap { ($0["event"] as? [String: Any])?["id"] as? String } ?? []
        #expect(Set(ids) == Set((0..<20).map { "e\($0)" }))
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit() == 0)
    }
}
