import BespokeCore
import BespokeCustomization
import BespokeServer
import BespokeStorage
import BespokeTestSupport
import Foundation
import GRDB
import HummingbirdTesting
import Logging
import Testing

/// The Tenant Manager's tenant lifecycle, endpoint recovery and replay, failing endpoints
/// remembered, and changes made by another process.
@Suite("Tenant Manager: tenants, recovery, replay, sync")
struct TenantManagerAPITests {
    @Test func aSuspendedTenantIsRefusedAndGetsNoPushesUntilReinstated() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            _ = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            _ = try await fixture.register("globex", type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)

            let suspended = try await client.call(.post, "/v1/admin/tenants/acme/suspend", token: fixture.adminToken)
            #expect(suspended.status == .ok)
            #expect(suspended.json["status"] as? String == "suspended")
            #expect(suspended.json["suspendedAt"] is String)
            // Tenant keys are not enough to suspend.
            let byTenant = try await client.call(.post, "/v1/admin/tenants/globex/suspend", token: fixture.globexKey)
            #expect(byTenant.status == .unauthorized)

            let refused = try await client.call(.get, "/v1/tenants/acme/customizations", token: fixture.acmeKey)
            #expect(refused.status == .forbidden)
            #expect(refused.errorCode == "tenant_suspended")
            #expect(try await client.call(.get, "/v1/tenants/globex/customizations", token: fixture.globexKey).status == .ok)

            // The product keeps publishing for the suspended tenant: the events are stored, not pushed.
            let event = CloudEvent(id: "a-1", source: "/shop", type: "OrderSubmitted", data: .object(["orderId": .string("a-1")]))
            _ = try await fixture.bus.publish(event, tenant: TenantID(trusted: "acme"))
            try await fixture.publish("globex", id: "g-1", type: "OrderSubmitted", client: client)
            try await receiver.waitFor(1)
            try await Task.sleep(for: .milliseconds(400))
            #expect(receiver.all.map(\.eventID) == ["g-1"])

            let shown = try await client.call(.get, "/v1/admin/tenants/acme", token: fixture.adminToken)
            #expect((shown.json["tenant"] as? [String: Any])?["status"] as? String == "suspended")
            #expect(shown.json["customizations"] as? Int == 1)
            #expect(shown.json["subscriptions"] as? Int == 1)
            #expect(shown.json["apiKeys"] as? Int == 1)

            let reinstated = try await client.call(.post, "/v1/admin/tenants/acme/reinstate", token: fixture.adminToken)
            #expect(reinstated.json["status"] as? String == "active")
            #expect(reinstated.json["suspendedAt"] == nil)
            #expect(try await client.call(.get, "/v1/tenants/acme/customizations", token: fixture.acmeKey).status == .ok)
            // What it missed is pushed now: its observer's cursor waited.
            let pushes = try await receiver.waitFor(2)
            #expect(pushes.map(\.eventID) == ["g-1", "a-1"])

            #expect(try await client.call(.post, "/v1/admin/tenants/nobody/suspend", token: fixture.adminToken).status == .notFound)
        }
    }

    @Test func deletingATenantPurgesItEverywhereAndLeavesOthersAlone() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            for tenant in ["acme", "globex"] {
                _ = try await fixture.register(tenant, type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
                _ = try await fixture.register(tenant, type: "OrderSubmitted", mode: "intercept", url: receiver.url, client: client)
                try await fixture.productSubscribes(tenant)
                try await fixture.publish(tenant, id: "\(tenant)-1", type: "OrderSubmitted", key: "o-1", client: client)
                try await fixture.publish(tenant, id: "\(tenant)-2", type: "OrderSubmitted", key: "o-1", client: client)
            }
            // Each tenant's first event is with its interceptor, the second queued behind it;
            // the observers see neither until they are released.
            try await receiver.waitFor(2)

            let deleted = try await client.call(.delete, "/v1/admin/tenants/acme", token: fixture.adminToken)
            #expect(deleted.status == .ok, "\(deleted.text)")
            let rows = try #require(deleted.json["deletedRows"] as? [String: Int])
            #expect(rows["tenants"] == 1)
            #expect(rows["holds"] == 2)
            #expect(rows["customizations"] == 2)
            #expect(rows["subscriptions"] == 2)

            // No row of acme is left in any table.
            let tables = try await fixture.platform.store.pool.read { db in
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%tenant_id%'")
            }
            #expect(tables.count >= 10)
            for table in tables {
                let count = try await fixture.platform.store.pool.read { db in
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE tenant_id = 'acme'") ?? -1
                }
                #expect(count == 0, "\(table) still has \(count) rows of acme")
            }
            // Its key is gone with it; the operator sees no tenant.
            let afterwards = try await client.call(.get, "/v1/tenants/acme/customizations", token: fixture.acmeKey)
            #expect(afterwards.status == .unauthorized)
            #expect(try await client.call(.get, "/v1/admin/tenants/acme", token: fixture.adminToken).status == .notFound)
            #expect(fixture.bus.subscriptions(tenant: TenantID(trusted: "acme")).isEmpty)
            #expect(fixture.platform.manager.customizations(tenant: TenantID(trusted: "acme")).isEmpty)

            // Globex keeps everything and goes on working.
            let holds = try await client.call(.get, "/v1/tenants/globex/holds", token: fixture.globexKey)
            let held = try #require((holds.json["holds"] as? [[String: Any]])?.first { $0["state"] as? String == "held" })
            let ticket = try #require(held["ticket"] as? String)
            let resumed = try await client.call(.post, "/v1/tenants/globex/holds/\(ticket)/resume", token: fixture.globexKey, json: "{}")
            #expect(resumed.status == .ok || resumed.status == .noContent, "\(resumed.text)")
            try await fixture.eventually("globex's product gets its first event") {
                try await fixture.productReceives("globex", wait: .milliseconds(50)).map(\.id).contains("globex-1")
            }
            #expect(try await client.call(.delete, "/v1/admin/tenants/acme", token: fixture.adminToken).status == .notFound)
        }
    }

    @Test func recoverPushesAgainWhatAnObserverMissedSinceAnInstant() async throws {
        let fixture = try await APIFixture.customizable(schedule: [.milliseconds(30)])
        let healthy = ManagedAtomicFlag()
        let receiver = try await WebhookReceiver.start { _, _ in healthy.isSet ? (200, [:]) : (503, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            let since = RFC3339.format(Date().addingTimeInterval(-1))
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            try await fixture.publish(id: "o-2", type: "OrderSubmitted", client: client)
            // Two attempts each, then both run out of retries.
            try await receiver.waitFor(4)
            let letters = "/v1/tenants/acme/subscriptions/customization.\(id)/dead-letters"
            try await fixture.eventually("both pushes are dead-lettered") {
                (try await client.call(.get, letters, token: fixture.acmeKey).json["deadLetters"] as? [[String: Any]])?.count == 2
            }
            healthy.set()
            let recover = "/v1/tenants/acme/customizations/\(id)/recover"
            let later = RFC3339.format(Date().addingTimeInterval(60))
            let none = try await client.call(.post, recover, token: fixture.acmeKey, json: #"{"since":"\#(later)"}"#)
            #expect(none.json["recovered"] as? Int == 0)
            let recovered = try await client.call(.post, recover, token: fixture.acmeKey, json: #"{"since":"\#(since)"}"#)
            #expect(recovered.status == .accepted)
            #expect(recovered.json["recovered"] as? Int == 2)
            let pushes = try await receiver.waitFor(6)
            #expect(Set(pushes.suffix(2).compactMap(\.eventID)) == ["o-1", "o-2"])

            let bad = try await client.call(.post, recover, token: fixture.acmeKey, json: #"{"since":"yesterday"}"#)
            #expect(bad.status == .badRequest)
            #expect(bad.errorCode == "invalid_request")
            let foreign = try await client.call(
                .post, "/v1/tenants/globex/customizations/\(id)/recover", token: fixture.globexKey, json: #"{"since":"\#(since)"}"#
            )
            #expect(foreign.status == .notFound)
        }
    }

    @Test func replayPushesOneMessageAgainByItsWebhookID() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            try await fixture.publish(id: "o-2", type: "OrderSubmitted", client: client)
            let first = try await receiver.waitFor(2)
            let target = try #require(first.first { $0.eventID == "o-1" }?.headers["webhook-id"])

            let replay = "/v1/tenants/acme/customizations/\(id)/replay"
            let replayed = try await client.call(.post, replay, token: fixture.acmeKey, json: #"{"messageId":"\#(target)"}"#)
            #expect(replayed.status == .accepted, "\(replayed.text)")
            let pushes = try await receiver.waitFor(3)
            #expect(pushes[2].eventID == "o-1")
            #expect(pushes[2].headers["webhook-id"] == target)
            try await Task.sleep(for: .milliseconds(200))
            #expect(receiver.all.count == 3)

            for unknown in ["\(id)-999999", "cus_other-1", "\(id)-h1.0"] {
                let response = try await client.call(.post, replay, token: fixture.acmeKey, json: #"{"messageId":"\#(unknown)"}"#)
                #expect(response.status == .notFound, "\(unknown)")
            }
            let foreign = try await client.call(
                .post, "/v1/tenants/globex/customizations/\(id)/replay", token: fixture.globexKey, json: #"{"messageId":"\#(target)"}"#
            )
            #expect(foreign.status == .notFound)
        }
    }

    @Test func recoverAndReplayPushAHeldEventAgainToItsInterceptor() async throws {
        let fixture = try await APIFixture.customizable()
        // Accepts the push but does not resume: the event stays held.
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "intercept", url: receiver.url, client: client)
            let since = RFC3339.format(Date().addingTimeInterval(-1))
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            let first = try await receiver.waitFor(1)
            let recovered = try await client.call(
                .post, "/v1/tenants/acme/customizations/\(id)/recover", token: fixture.acmeKey, json: #"{"since":"\#(since)"}"#
            )
            #expect(recovered.json["recovered"] as? Int == 1)
            let messageID = try #require(first[0].headers["webhook-id"])
            let replayed = try await client.call(
                .post, "/v1/tenants/acme/customizations/\(id)/replay", token: fixture.acmeKey, json: #"{"messageId":"\#(messageID)"}"#
            )
            #expect(replayed.status == .accepted, "\(replayed.text)")
            let pushes = try await receiver.waitFor(3)
            #expect(pushes.map(\.holdTicket) == Array(repeating: first[0].holdTicket, count: 3))

            // Once resumed, there is nothing held left to push.
            let ticket = try #require(first[0].holdTicket)
            _ = try await client.call(.post, "/v1/tenants/acme/holds/\(ticket)/resume", token: fixture.acmeKey, json: "{}")
            let gone = try await client.call(
                .post, "/v1/tenants/acme/customizations/\(id)/replay", token: fixture.acmeKey, json: #"{"messageId":"\#(messageID)"}"#
            )
            #expect(gone.status == .notFound)
        }
    }

    @Test func anEndpointsFailuresAreRememberedInTheStore() async throws {
        let fixture = try await APIFixture.customizable(schedule: Array(repeating: .milliseconds(50), count: 20))
        let healthy = ManagedAtomicFlag()
        let receiver = try await WebhookReceiver.start { _, _ in healthy.isSet ? (200, [:]) : (500, [:]) }
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let (id, _) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            try await receiver.waitFor(2)
            let path = "/v1/tenants/acme/customizations/\(id)"
            let failing = try await client.call(.get, path, token: fixture.acmeKey)
            let since = try #require(failing.json["failingSince"] as? String)
            // Kept in the store: another index loaded from it sees the same instant.
            let reloaded = CustomizationIndex()
            try await reloaded.load(from: fixture.platform.store)
            let stored = try #require(reloaded.customization(tenant: TenantID(trusted: "acme"), id: id)?.failingSince)
            #expect(RFC3339.format(stored) == since)

            healthy.set()
            try await fixture.eventually("a success clears it") {
                try await client.call(.get, path, token: fixture.acmeKey).json["failingSince"] == nil
            }
            // The index is cleared first, the store right after.
            try await fixture.eventually("the store cleared too") {
                try await reloaded.load(from: fixture.platform.store)
                return reloaded.customization(tenant: TenantID(trusted: "acme"), id: id)?.failingSince == nil
            }
        }
    }

    /// Two platforms over one data directory stand for two processes (or nodes) sharing a
    /// store: what one changes, the other applies within a second, without a restart.
    @Test func changesMadeByAnotherProcessTakeEffectWithinASecond() async throws {
        let fixture = try await APIFixture.customizable()
        var logger = Logger(label: "other-node")
        logger.logLevel = .critical
        let other = try await openPlatform(fixture.configuration, logger: logger)
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            let acme = TenantID(trusted: "acme")
            // The other process learns of the catalog entry too, then registers an interceptor.
            _ = try await other.manager.synchronize()
            let (registered, _) = try await other.manager.register(
                tenant: acme, eventType: "OrderSubmitted", mode: .intercept, url: receiver.url
            )
            let started = ContinuousClock.now
            try await fixture.eventually("this process intercepts for it", timeout: .seconds(2)) {
                fixture.platform.manager.index.nextInterceptor(tenant: acme, type: "OrderSubmitted", passed: [], event: { nil }) != nil
            }
            // One poll interval (500 ms) and a reload; the margin is for the whole suite
            // running beside it on two cores.
            #expect(ContinuousClock.now - started < .milliseconds(1500))
            let receipt = try await fixture.publish(id: "o-1", type: "OrderSubmitted", client: client)
            #expect(receipt["holdId"] != nil, "\(receipt)")
            let pushed = try await receiver.waitFor(1)
            #expect(pushed[0].holdTicket != nil)

            // Suspending there refuses the tenant's keys here.
            try await other.manager.suspend(acme)
            try await fixture.eventually("the key is refused here", timeout: .seconds(2)) {
                try await client.call(.get, "/v1/tenants/acme/holds", token: fixture.acmeKey).status == .forbidden
            }
            try await other.manager.reinstate(acme)
            // Deleting the registration there stops the interception here.
            try await other.manager.delete(tenant: acme, id: registered.id)
            try await fixture.eventually("the interceptor is gone here", timeout: .seconds(2)) {
                fixture.platform.manager.index.nextInterceptor(tenant: acme, type: "OrderSubmitted", passed: [], event: { nil }) == nil
            }
        }
    }
}
