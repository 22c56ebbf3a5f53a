import AsyncHTTPClient
import BespokeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Real process: customization crash and the CLI", .serialized)
struct CustodyCrashTests {
    static let schema = #"{"type":"object","required":["orderId"],"properties":{"orderId":{"type":"string"},"note":{"type":"string"}}}"#

    /// The server is killed while events are held (and queued behind them) and while pushes to
    /// a slow observer are in flight. After a restart every held event is still held, in
    /// order; once resumed the product gets every event, per key in order, and the observer
    /// gets every event it was owed.
    @Test func sigkillWithEventsHeldAndPushesInFlightLosesNothing() async throws {
        let directory = try temporaryDirectory()
        let key = try await createTenant("acme", dataDirectory: directory)
        let client = JSONClient(key: key)
        let environment = ["BESPOKE_ALLOW_LOOPBACK_ENDPOINTS": "true"]
        let first = try await ServerProcess.start(dataDirectory: directory, environment: environment)
        let admin = JSONClient(key: try adminToken(directory))

        let interceptor = try await WebhookReceiver.start()
        defer { interceptor.stop() }
        // Slow until the restart, so pushes are in flight when the server dies.
        let slow = Locked(true)
        let observer = try await WebhookReceiver.start { _, _ in
            if slow.withLock({ $0 }) { try? await Task.sleep(for: .seconds(3)) }
            return (204, [:])
        }
        defer { observer.stop() }

        var base = first.baseURL
        for type in ["OrderSubmitted", "OrderShipped"] {
            let put = try await admin.send(
                .PUT, "\(base)/v1/admin/catalog/\(type)", json: #"{"schema":\#(Self.schema),"interceptable":true}"#
            )
            #expect(put.status == 201 || put.status == 200)
        }
        let registered = try await client.send(
            .POST, "\(base)/v1/tenants/acme/customizations",
            json: #"{"eventType":"OrderSubmitted","mode":"intercept","url":"\#(interceptor.url)","holdDeadlineMs":600000}"#
        )
        #expect(registered.status == 201)
        let observing = try await client.send(
            .POST, "\(base)/v1/tenants/acme/customizations",
            json: #"{"eventType":"OrderShipped","mode":"observe","url":"\#(observer.url)","timeoutMs":10000}"#
        )
        #expect(observing.status == 201)
        #expect(try await client.send(.POST, "\(base)/v1/tenants/acme/subscriptions", json: #"{"name":"product","types":["Order*"]}"#).status == 201)

        // Three keys, two submitted orders each: the first of each held, the second queued.
        var submitted: [String] = []
        for round in 1...2 {
            for order in 1...3 {
                let id = "k\(order)-\(round)"
                submitted.append(id)
                let event = #"{"specversion":"1.0","id":"\#(id)","source":"/shop","type":"OrderSubmitted","partitionkey":"k\#(order)","data":{"orderId":"\#(id)"}}"#
                #expect(try await client.send(.POST, "\(base)/v1/tenants/acme/events", json: event).status == 201)
            }
        }
        let shipped = (1...5).map { "s\($0)" }
        for id in shipped {
            let event = #"{"specversion":"1.0","id":"\#(id)","source":"/shop","type":"OrderShipped","data":{"orderId":"\#(id)"}}"#
            #expect(try await client.send(.POST, "\(base)/v1/tenants/acme/events", json: event).status == 201)
        }
        try await interceptor.waitFor(3)
        try await observer.waitFor(1)

        first.signal(SIGKILL)
        _ = try await first.waitForExit()
        slow.withLock { $0 = false }
        let second = try await ServerProcess.start(dataDirectory: directory, environment: environment)
        base = second.baseURL

        // Custody survived: three held, three queued behind them.
        let holds = try await client.send(.GET, "\(base)/v1/tenants/acme/holds")
        let active = try #require(holds.body["holds"] as? [[String: Any]])
        #expect(active.filter { $0["state"] as? String == "held" }.compactMap { $0["eventId"] as? String }.sorted() == ["k1-1", "k2-1", "k3-1"])
        #expect(active.filter { $0["state"] as? String == "waiting" }.compactMap { $0["eventId"] as? String }.sorted() == ["k1-2", "k2-2", "k3-2"])

        // The tenant's service resumes whatever is held, until nothing is left in custody.
        let deadline = ContinuousClock.now + .seconds(30)
        var resumed: [String] = []
        while ContinuousClock.now < deadline {
            let page = try await client.send(.GET, "\(base)/v1/tenants/acme/holds")
            let list = page.body["holds"] as? [[String: Any]] ?? []
            if list.isEmpty { break }
            for hold in list where hold["state"] as? String == "held" {
                guard let ticket = hold["ticket"] as? String else { continue }
                let answer = try await client.send(.POST, "\(base)/v1/tenants/acme/holds/\(ticket)/resume", json: "{}")
                if answer.status == 204, let id = hold["eventId"] as? String { resumed.append(id) }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(resumed.sorted() == submitted.sorted())

        // The product gets all eleven events; per key, in publish order.
        var received: [String] = []
        while ContinuousClock.now < deadline, Set(received).count < 11 {
            let pulled = try await client.send(
                .POST, "\(base)/v1/tenants/acme/subscriptions/product/pull", json: #"{"max":50,"waitMs":500}"#
            )
            let messages = pulled.body["messages"] as? [[String: Any]] ?? []
            received += messages.compactMap { ($0["event"] as? [String: Any])?["id"] as? String }
            let receipts = messages.compactMap { $0["deliveryId"] as? String }.map { "\"\($0)\"" }.joined(separator: ",")
            if !messages.isEmpty {
                _ = try await client.send(.POST, "\(base)/v1/tenants/acme/subscriptions/product/ack", json: #"{"deliveryIds":[\#(receipts)]}"#)
            }
        }
        #expect(Set(received) == Set(submitted + shipped))
        for order in 1...3 {
            let ofKey = received.filter { $0.hasPrefix("k\(order)-") }
            #expect(ofKey.first == "k\(order)-1", "key k\(order) arrived as \(ofKey)")
        }

        // The observer gets every shipped event, the ones in flight at the crash included.
        let observed = { Set(observer.all.compactMap(\.eventID)) }
        while ContinuousClock.now < deadline, observed() != Set(shipped) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(observed() == Set(shipped))

        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)
    }

    /// The `bespoke` subcommands manage the catalog, customizations and tenants of a running server.
    @Test func theCLIManagesTheCatalogCustomizationsAndTenants() async throws {
        let directory = try temporaryDirectory()
        let key = try await createTenant("acme", dataDirectory: directory)
        _ = try await createTenant("globex", dataDirectory: directory)
        let server = try await ServerProcess.start(dataDirectory: directory, environment: ["BESPOKE_ALLOW_LOOPBACK_ENDPOINTS": "true"])
        let target = ["--server", server.baseURL, "--data-dir", directory]
        func bespoke(_ arguments: [String], key: String? = nil) throws -> (Int32, String) {
            try runBespokeWithStatus(arguments + target, environment: key.map { ["BESPOKE_API_KEY": $0] } ?? [:])
        }

        let (putStatus, put) = try bespoke(["catalog", "put", "OrderSubmitted", "--schema", Self.schema, "--interceptable", "--mutable-field", "note"])
        #expect(putStatus == 0, "\(put)")
        #expect(put.contains(#""mutableFields" : ["#))
        let (_, listed) = try bespoke(["catalog", "list"])
        #expect(listed.contains("OrderSubmitted"))

        let (registerStatus, registered) = try bespoke(
            ["customization", "register", "--tenant", "acme", "--event-type", "OrderSubmitted", "--mode", "intercept",
             "--url", "http://127.0.0.1:9/hook", "--order", "3"],
            key: key
        )
        #expect(registerStatus == 0, "\(registered)")
        #expect(registered.contains("whsec_"))
        let id = try #require(registered.firstMatch(of: /"id" : "(cus_[0-9a-f]+)"/)?.1).description
        let (_, updated) = try bespoke(["customization", "update", id, "--tenant", "acme", "--disable"], key: key)
        #expect(updated.contains(#""enabled" : false"#))
        let (_, customizations) = try bespoke(["customization", "list", "--tenant", "acme"], key: key)
        #expect(customizations.contains(id))
        let (unknownStatus, unknown) = try bespoke(
            ["customization", "register", "--tenant", "acme", "--event-type", "Nope", "--mode", "observe", "--url", "http://127.0.0.1:9/"],
            key: key
        )
        #expect(unknownStatus != 0)
        #expect(unknown.contains("unknown_event_type"))

        #expect(try bespoke(["tenant", "suspend", "acme"]).0 == 0)
        let (suspendedStatus, suspended) = try bespoke(["customization", "list", "--tenant", "acme"], key: key)
        #expect(suspendedStatus != 0)
        #expect(suspended.contains("tenant_suspended"))
        #expect(try bespoke(["tenant", "reinstate", "acme"]).0 == 0)
        let (_, shown) = try bespoke(["tenant", "show", "acme"])
        #expect(shown.contains(#""status" : "active""#))
        #expect(shown.contains(#""customizations" : 1"#))

        let (unconfirmedStatus, unconfirmed) = try bespoke(["tenant", "delete", "acme"])
        #expect(unconfirmedStatus != 0)
        #expect(unconfirmed.contains("--yes"))
        let (deleteStatus, deleted) = try bespoke(["tenant", "delete", "acme", "--yes"])
        #expect(deleteStatus == 0, "\(deleted)")
        #expect(deleted.contains(#""customizations" : 1"#))
        let (goneStatus, gone) = try bespoke(["tenant", "show", "acme"])
        #expect(goneStatus != 0)
        #expect(gone.contains("not_found"))
        let (_, tenants) = try runBespokeWithStatus(["tenant", "list", "--data-dir", directory])
        #expect(!tenants.contains("acme"))
        #expect(tenants.contains("globex"))

        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }

    private func adminToken(_ directory: String) throws -> String {
        try String(contentsOfFile: directory + "/admin-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
