import BespokeBus
import BespokeCore
import BespokeServer
import BespokeShop
import BespokeStorage
import Foundation
import GRDB
import HummingbirdTesting
import Testing

/// The whole order flow through the bus: each service reacts only to events, each step
/// commits with the events it raises, and the bus carries them in order per order.
@Suite("Shop: the order flow through the bus")
struct OrderFlowTests {
    /// Every event of the tenant, in log order, from a subscription made before the first order.
    static func capture(_ fixture: ShopFixture, tenant: TenantID = ShopFixture.acme) async throws {
        _ = try await fixture.platform.bus.createSubscription(tenant: tenant, name: "capture", types: [])
    }

    static func captured(_ fixture: ShopFixture, tenant: TenantID = ShopFixture.acme) async throws -> [Delivery] {
        var all: [Delivery] = []
        while true {
            let batch = try await fixture.platform.bus.receive(tenant: tenant, subscription: "capture", max: 500, wait: .milliseconds(200))
            guard !batch.isEmpty else { return all }
            all += batch
            try await fixture.platform.bus.ack(tenant: tenant, subscription: "capture", batch.map(\.receipt))
        }
    }

    static func types(_ deliveries: [Delivery], key: String) -> [String] {
        deliveries.filter { $0.partitionKey == key }.map(\.type)
    }

    @Test func aHappyOrderIsPaidThenShippedAndItsStockSold() async throws {
        let fixture = try await ShopFixture.make()
        try await Self.capture(fixture)
        try await fixture.test { client in
            let key = fixture.acmeKey
            let order = try await client.placeOrder(ShopFixture.acme, key: key, buyer: "alice", [("mug", 2), ("hoodie", 1)])
            let paid = try await client.waitForOrder(ShopFixture.acme, key: key, buyer: "alice", order, status: "Paid")
            #expect(paid["total"] as? Int == 7_000)
            #expect(try await client.stock(ShopFixture.acme, key: key, "mug") == 8)
            #expect(try await client.stock(ShopFixture.acme, key: key, "hoodie") == 4)
            // The basket was emptied by the checkout.
            #expect((try await client.shop(.get, ShopFixture.acme, "basket", key: key, buyer: "alice").json["items"] as? [Any])?.isEmpty == true)

            let shipped = try await client.shop(.post, ShopFixture.acme, "admin/orders/\(order)/ship", key: key)
            #expect(shipped.status == .ok)
            #expect(shipped.json["status"] as? String == "Shipped")
            let again = try await client.shop(.post, ShopFixture.acme, "admin/orders/\(order)/ship", key: key)
            #expect(again.status == .conflict)
            #expect(again.errorCode == "conflict")
            let cancel = try await client.shop(.post, ShopFixture.acme, "orders/\(order)/cancel", key: key, buyer: "alice")
            #expect(cancel.status == .conflict, "a shipped order cannot be cancelled")

            try await eventually("the shipped event is on the bus") {
                try await fixture.platform.bus.pendingCount(tenant: ShopFixture.acme, subscription: "capture") >= 10
            }
            let events = try await Self.captured(fixture)
            #expect(
                Self.types(events, key: order) == [
                    "UserCheckoutAccepted", "OrderStarted", "OrderStatusChangedToSubmitted", "GracePeriodConfirmed",
                    "OrderStatusChangedToAwaitingValidation", "OrderStockConfirmed", "OrderStatusChangedToStockConfirmed",
                    "OrderPaymentSucceeded", "OrderStatusChangedToPaid", "OrderStatusChangedToShipped",
                ]
            )
            // Every event is a CloudEvent of the shop's own source, keyed by the order.
            for event in events where event.partitionKey == order {
                #expect(event.source.hasPrefix("/bespoke/shop/"))
                let decoded = try event.event()
                #expect(decoded.tenantID == "acme")
                #expect(decoded.data?["orderId"]?.stringValue == order || decoded.data?["requestId"]?.stringValue == order)
            }
        }
    }

    @Test func aStockRejectionCancelsTheOrderAndKeepsTheStock() async throws {
        let fixture = try await ShopFixture.make()
        try await Self.capture(fixture)
        try await fixture.test { client in
            let key = fixture.acmeKey
            let order = try await client.placeOrder(ShopFixture.acme, key: key, buyer: "bob", [("mug", 1), ("hoodie", 6)])
            let cancelled = try await client.waitForOrder(ShopFixture.acme, key: key, buyer: "bob", order, status: "Cancelled")
            #expect(cancelled["cancelReason"] as? String == "stock")
            #expect(try await client.stock(ShopFixture.acme, key: key, "hoodie") == 5)
            #expect(try await client.stock(ShopFixture.acme, key: key, "mug") == 10, "nothing is reserved when one line lacks stock")
            let events = try await Self.captured(fixture)
            let types = Self.types(events, key: order)
            #expect(types.contains("OrderStockRejected"))
            #expect(types.last == "OrderStatusChangedToCancelled")
            #expect(!types.contains("OrderStatusChangedToStockConfirmed"))
            let rejection = try #require(events.first { $0.type == "OrderStockRejected" }).event()
            let items = rejection.data?["orderStockItems"]
            #expect(items == .array([
                .object(["productId": .string("hoodie"), "hasStock": .bool(false)]),
                .object(["productId": .string("mug"), "hasStock": .bool(true)]),
            ]))
        }
    }

    @Test func aPaymentFailureCancelsTheOrderAndReleasesItsStock() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test { client in
            let key = fixture.acmeKey
            let settings = try await client.shop(.put, ShopFixture.acme, "", key: key, json: #"{"name":"Acme Outfitters","paymentOutcome":"fail"}"#)
            #expect(settings.status == .ok, "\(settings.text)")
            let order = try await client.placeOrder(ShopFixture.acme, key: key, buyer: "carol", [("mug", 3)])
            let cancelled = try await client.waitForOrder(ShopFixture.acme, key: key, buyer: "carol", order, status: "Cancelled")
            #expect(cancelled["cancelReason"] as? String == "payment")
            // Reserved at validation, given back once the cancellation reaches the Catalog.
            try await eventually("the mug stock is back to 10") { try await client.stock(ShopFixture.acme, key: key, "mug") == 10 }
            let payments = try await fixture.shop.database.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT outcome FROM payments WHERE tenant_id = 'acme'").map { $0["outcome"] as String }
            }
            #expect(payments == ["declined"])
        }
    }

    @Test func aBuyerCancelsBeforePaymentButNotAfter() async throws {
        let fixture = try await ShopFixture.make(gracePeriod: .milliseconds(1500))
        try await fixture.test { client in
            let key = fixture.acmeKey
            let early = try await client.placeOrder(ShopFixture.acme, key: key, buyer: "dave", [("hoodie", 2)])
            try await client.waitForOrder(ShopFixture.acme, key: key, buyer: "dave", early, status: "Submitted")
            // Another buyer cannot cancel it, nor see it.
            let stranger = try await client.shop(.post, ShopFixture.acme, "orders/\(early)/cancel", key: key, buyer: "mallory")
            #expect(stranger.status == .notFound)
            let cancel = try await client.shop(.post, ShopFixture.acme, "orders/\(early)/cancel", key: key, buyer: "dave")
            #expect(cancel.status == .ok, "\(cancel.text)")
            #expect(cancel.json["status"] as? String == "Cancelled")
            #expect(cancel.json["cancelReason"] as? String == "buyer")

            let late = try await client.placeOrder(ShopFixture.acme, key: key, buyer: "dave", [("mug", 1)])
            try await client.waitForOrder(ShopFixture.acme, key: key, buyer: "dave", late, status: "Paid")
            // The early order's grace period has long passed: it stayed cancelled, nothing was reserved.
            let early2 = try await client.shop(.get, ShopFixture.acme, "orders/\(early)", key: key, buyer: "dave")
            #expect(early2.json["status"] as? String == "Cancelled")
            #expect(try await client.stock(ShopFixture.acme, key: key, "hoodie") == 5)
            let refused = try await client.shop(.post, ShopFixture.acme, "orders/\(late)/cancel", key: key, buyer: "dave")
            #expect(refused.status == .conflict)
            #expect(refused.errorCode == "conflict")
        }
    }

    /// The services' inbox is swept by the shop itself: a record past the retention goes, the
    /// records of the order just handled stay.
    @Test func theShopSweepsItsInboxPastItsRetention() async throws {
        let fixture = try await ShopFixture.make { configuration in
            configuration.shop.inboxSweepInterval = .milliseconds(50)
        }
        let old = Date().addingTimeInterval(-fixture.configuration.shop.inboxRetention.seconds - 60)
        let count: @Sendable (String) async throws -> Int = { keyPattern in
            try await fixture.shop.database.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE event_key LIKE ?", arguments: [keyPattern]) ?? 0
            }
        }
        try await fixture.shop.database.pool.write { db in
            try db.execute(
                sql: "INSERT INTO inbox (tenant_id, consumer, event_key, processed_at) VALUES ('acme', 'ordering', 'long-ago', ?)",
                arguments: [old.timeIntervalSince1970]
            )
        }
        try await fixture.test { client in
            let order = try await client.placeOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "alice", [("mug", 1)])
            try await client.waitForOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "alice", order, status: "Paid")
            try await eventually("the old record is forgotten") { try await count("long-ago") == 0 }
            #expect(try await count("%") >= 4, "the order's events handled stay remembered")
        }
    }

    /// Every event type the shop raises is delivered to its consumers a second time (the bus's
    /// real redelivery path); the shop's state does not change and no event is raised again.
    @Test func redeliveringEveryEventTypeChangesNothing() async throws {
        let fixture = try await ShopFixture.make()
        try await Self.capture(fixture)
        let bus = fixture.platform.bus
        try await fixture.test { client in
            let key = fixture.acmeKey
            let acme = ShopFixture.acme
            // A basket that sees the price change.
            let put = try await client.shop(.put, acme, "basket/items/mug", key: key, buyer: "erin", json: #"{"quantity":1}"#)
            #expect(put.status == .ok)
            let happy = try await client.placeOrder(acme, key: key, buyer: "alice", [("mug", 2)])
            try await client.waitForOrder(acme, key: key, buyer: "alice", happy, status: "Paid")
            _ = try await client.shop(.post, acme, "admin/orders/\(happy)/ship", key: key)
            let rejected = try await client.placeOrder(acme, key: key, buyer: "bob", [("hoodie", 9)])
            try await client.waitForOrder(acme, key: key, buyer: "bob", rejected, status: "Cancelled")
            _ = try await client.shop(.put, acme, "", key: key, json: #"{"name":"Acme Outfitters","paymentOutcome":"fail"}"#)
            let declined = try await client.placeOrder(acme, key: key, buyer: "carol", [("mug", 1)])
            try await client.waitForOrder(acme, key: key, buyer: "carol", declined, status: "Cancelled")
            let price = try await client.shop(.put, acme, "catalog/items/mug/price", key: key, json: #"{"price":1200}"#)
            #expect(price.status == .ok)
            try await eventually("the basket shows the new price") {
                let items = try await client.shop(.get, acme, "basket", key: key, buyer: "erin").json["items"] as? [[String: Any]]
                return items?.first?["unitPrice"] as? Int == 1200
            }
            try await Self.settle(fixture)

            let events = try await Self.captured(fixture)
            #expect(Set(events.map(\.type)) == Set(ShopEventType.allCases.map(\.rawValue)), "every event type occurred")
            let before = try await fixture.snapshot()
            #expect(before["outbox"]?.isEmpty == true)

            var redelivered = 0
            for event in events {
                for service in ShopService.allCases where service.consumes.map(\.rawValue).contains(event.type) {
                    try await bus.replay(tenant: acme, subscription: service.subscriptionName, eventSeq: event.eventSeq)
                    redelivered += 1
                }
            }
            #expect(redelivered >= ShopEventType.allCases.count - 1)
            try await Self.settle(fixture)
            let after = try await fixture.snapshot()
            #expect(after == before)
            #expect(try await Self.captured(fixture).isEmpty, "no event was raised again")
        }
    }

    /// A crash after a state change committed and before its events were published: the
    /// events wait in the outbox and are published when the shop starts again. Publishing
    /// again after a crash that lost the outbox's delete stores nothing twice.
    @Test func aCrashBetweenCommitAndPublishLosesNothing() async throws {
        let crashed = try await ShopFixture.make()
        let acme = ShopFixture.acme
        // The first process commits a checkout and dies before its relay ran.
        let mug = try await crashed.shop.catalog.item(tenant: acme, id: "mug")
        _ = try await crashed.shop.basket.set(tenant: acme, buyer: "alice", product: mug, quantity: 1)
        let orderID = try await crashed.shop.basket.checkout(
            tenant: acme, buyer: "alice",
            CheckoutRequest(
                requestId: "r-1", address: Address(street: "1 Main", city: "Oslo", zipCode: "0150", country: "NO"), cardHolderName: "Alice",
                cardNumber: "4111111111111111"
            ),
            outbox: {}
        )
        let pending = try await crashed.shop.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") }
        #expect(pending == 1)

        // The next process on the same data finds it and carries the order through.
        let restarted = try await openPlatform(crashed.configuration, logger: ShopFixture.quietLogger)
        let fixture = ShopFixture(configuration: crashed.configuration, platform: restarted, acmeKey: crashed.acmeKey, globexKey: crashed.globexKey)
        try await fixture.test { client in
            try await client.waitForOrder(acme, key: fixture.acmeKey, buyer: "alice", orderID, status: "Paid")
            let stock = try await client.stock(acme, key: fixture.acmeKey, "mug")
            #expect(stock == 9)

            // The relay's delete is lost after a publish: the same events go out again.
            let envelope = try await restarted.store.pool.read { db in
                try Data.fetchOne(db, sql: "SELECT envelope FROM events WHERE tenant_id = 'acme' AND type = 'UserCheckoutAccepted'")
            }
            let stored: Data = try #require(envelope)
            try await restarted.shop.database.pool.write { db in
                try db.execute(sql: "INSERT INTO outbox (tenant_id, envelope, created_at) VALUES ('acme', ?, 0)", arguments: [stored])
            }
            // This call or the relay running in the background publishes it, whichever looks first.
            #expect(try await restarted.shop.relay.relayPending() <= 1)
            try await eventually("the outbox drained") {
                try await restarted.shop.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") } == 0
            }
            try await Self.settle(fixture)
            let counts = try await restarted.store.pool.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE tenant_id = 'acme' AND type = 'UserCheckoutAccepted'"),
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE tenant_id = 'acme' AND type = 'OrderStarted'")
                )
            }
            #expect(counts.0 == 1 && counts.1 == 1, "stored once: \(counts)")
            #expect(try await client.stock(acme, key: fixture.acmeKey, "mug") == 9)
        }
    }

    /// Waits until the outbox is empty and every shop subscription of acme has nothing pending.
    static func settle(_ fixture: ShopFixture) async throws {
        try await eventually("the shop is idle") {
            let outbox = try await fixture.shop.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? 0 }
            guard outbox == 0 else { return false }
            for service in ShopService.allCases {
                if try await fixture.platform.bus.pendingCount(tenant: ShopFixture.acme, subscription: service.subscriptionName) > 0 { return false }
            }
            return true
        }
        // A handler that just committed may still be raising: one more look after a moment.
        try await Task.sleep(for: .milliseconds(300))
        let outbox = try await fixture.shop.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? 0 }
        if outbox > 0 { try await settle(fixture) }
    }
}
