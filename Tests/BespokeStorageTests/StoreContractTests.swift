import BespokeCore
import BespokeStorage
import Foundation
import Testing

/// The storage contract: every backend must pass these, unchanged.
@Suite("Store contract")
struct StoreContractTests {
    let acme = TenantID(trusted: "acme")
    let globex = TenantID(trusted: "globex")

    private func prepared(_ backend: StoreBackend) async throws -> any PlatformStore {
        let store = try backend.makeStore()
        for tenant in [acme, globex] {
            try await store.createTenant(TenantRecord(id: tenant, name: tenant.rawValue.capitalized, createdAt: Date()))
        }
        return store
    }

    private func event(_ tenant: TenantID, _ id: String, type: String = "OrderStarted", key: String? = nil) -> EventToStore {
        var event = CloudEvent(id: id, source: "/shop", type: type, data: .object(["n": .string(id)]))
        event.partitionKey = key
        event.tenantID = tenant.rawValue
        return EventToStore(event, tenant: tenant)
    }

    private func subscribe(_ store: any PlatformStore, _ tenant: TenantID, _ name: String, maxAttempts: Int = 3) async throws -> Subscription {
        try await store.createSubscription(
            NewSubscription(tenant: tenant, name: name, filter: EventTypeFilter([]), policy: DeliveryPolicy(maxAttempts: maxAttempts)),
            at: Date()
        )
    }

    private func published(_ result: BusWriteResult) throws -> (seq: Int64, duplicate: Bool, deliveries: [Delivery]) {
        guard case .published(let seq, _, let duplicate, let deliveries) = result else {
            Issue.record("expected a publish result, got \(result)")
            throw BespokeError(.storageFailure, "unexpected result")
        }
        return (seq, duplicate, deliveries)
    }

    @Test(arguments: StoreBackend.allCases)
    func tenantsAreCreatedOnceAndListed(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        await #expect {
            try await store.createTenant(TenantRecord(id: acme, name: "again", createdAt: Date()))
        } throws: { ($0 as? BespokeError)?.code == .conflict }
        #expect(try await store.listTenants().map(\.id) == [acme, globex])
        #expect(try await store.tenant(acme)?.name == "Acme")
        #expect(try await store.tenant(TenantID(trusted: "nobody")) == nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func apiKeysAreFoundByHashAndRevokedOnlyByTheirTenant(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let key = APIKeyRecord(id: "key_1", tenant: acme, secretHash: "abc", createdAt: Date(timeIntervalSince1970: 1_700_000_000))
        try await store.insertAPIKey(key)
        #expect(try await store.apiKey(secretHash: "abc") == key)
        #expect(try await store.apiKey(secretHash: "nope") == nil)
        #expect(try await store.revokeAPIKey(tenant: globex, id: "key_1", at: Date()) == false)
        #expect(try await store.apiKey(secretHash: "abc")?.revokedAt == nil)
        #expect(try await store.revokeAPIKey(tenant: acme, id: "key_1", at: Date()) == true)
        #expect(try await store.apiKey(secretHash: "abc")?.revokedAt != nil)
        #expect(try await store.apiKeys(tenant: acme).count == 1)
        #expect(try await store.apiKeys(tenant: globex).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func subscriptionsAreScopedToTheirTenant(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let created = try await subscribe(store, acme, "orders")
        #expect(created.policy.maxAttempts == 3)
        // The same name is free in another tenant, taken in the same.
        _ = try await subscribe(store, globex, "orders")
        await #expect { try await subscribe(store, acme, "orders") } throws: { ($0 as? BespokeError)?.code == .conflict }
        #expect(try await store.subscription(tenant: acme, name: "orders") == created)
        #expect(try await store.subscriptions(tenant: acme).map(\.name) == ["orders"])
        #expect(try await store.allSubscriptions().count == 2)
        #expect(try await store.deleteSubscription(tenant: globex, name: "missing") == false)
        #expect(try await store.deleteSubscription(tenant: acme, name: "orders") == true)
        #expect(try await store.subscription(tenant: acme, name: "orders") == nil)
        #expect(try await store.subscription(tenant: globex, name: "orders") != nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func publishIsIdempotentOnSourceAndID(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let first = try published(try await store.apply([.publish(event(acme, "e1"), subscriptions: [orders.id])])[0])
        #expect(first.duplicate == false)
        #expect(first.deliveries.count == 1)
        let again = try published(try await store.apply([.publish(event(acme, "e1"), subscriptions: [orders.id])])[0])
        #expect(again.duplicate == true)
        #expect(again.seq == first.seq)
        #expect(again.deliveries.isEmpty)
        // The same id in another tenant is another event.
        let other = try published(try await store.apply([.publish(event(globex, "e1"), subscriptions: [])])[0])
        #expect(other.duplicate == false)
        #expect(try await store.pendingCount(tenant: acme, subscription: orders.id) == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func publishCreatesDeliveriesOnlyForTheTenantsOwnLiveSubscriptions(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let mine = try await subscribe(store, acme, "mine")
        let theirs = try await subscribe(store, globex, "theirs")
        let gone = try await subscribe(store, acme, "gone")
        _ = try await store.deleteSubscription(tenant: acme, name: "gone")
        let result = try published(
            try await store.apply([.publish(event(acme, "e1"), subscriptions: [mine.id, theirs.id, gone.id])])[0]
        )
        #expect(result.deliveries.map(\.subscription) == [mine.id])
        #expect(try await store.pendingCount(tenant: globex, subscription: theirs.id) == 0)
        let delivery = try #require(result.deliveries.first)
        #expect(delivery.tenant == acme)
        #expect(delivery.eventID == "e1")
        #expect(try delivery.event().tenantID == "acme")
    }

    @Test(arguments: StoreBackend.allCases)
    func settlingWritesFindNothingAcrossTenantsOrSubscriptions(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let spy = try await subscribe(store, globex, "spy")
        let delivery = try published(try await store.apply([.publish(event(acme, "e1"), subscriptions: [orders.id])])[0]).deliveries[0]
        let attempts: [BusWrite] = [
            .ack(globex, orders.id, delivery.id),
            .ack(globex, spy.id, delivery.id),
            .ack(acme, spy.id, delivery.id),
            .retry(globex, orders.id, delivery.id, attempts: 1, notBefore: Date(), error: "x"),
            .deadLetter(globex, orders.id, delivery.id, attempts: 1, reason: "x"),
        ]
        #expect(try await store.apply(attempts) == Array(repeating: .notFound, count: attempts.count))
        #expect(try await store.pendingDeliveries(tenant: globex, subscription: orders.id, after: nil, limit: 10).isEmpty)
        #expect(try await store.pendingDeliveries(tenant: acme, subscription: orders.id, after: nil, limit: 10).map(\.id) == [delivery.id])
        #expect(try await store.apply([.ack(acme, orders.id, delivery.id)]) == [.applied])
        #expect(try await store.apply([.ack(acme, orders.id, delivery.id)]) == [.notFound])
    }

    @Test(arguments: StoreBackend.allCases)
    func retriesAreRecordedAndDeadLettersRedriven(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let delivery = try published(try await store.apply([.publish(event(acme, "e1"), subscriptions: [orders.id])])[0]).deliveries[0]
        let later = Date().addingTimeInterval(60)
        #expect(try await store.apply([.retry(acme, orders.id, delivery.id, attempts: 2, notBefore: later, error: "boom")]) == [.applied])
        let pending = try #require(try await store.pendingDeliveries(tenant: acme, subscription: orders.id, after: nil, limit: 10).first)
        #expect(pending.attempts == 2)
        #expect(pending.lastError == "boom")
        #expect(abs((pending.notBefore ?? .distantPast).timeIntervalSince(later)) < 0.01)

        #expect(try await store.apply([.deadLetter(acme, orders.id, delivery.id, attempts: 3, reason: "gave up")]) == [.applied])
        #expect(try await store.pendingCount(tenant: acme, subscription: orders.id) == 0)
        let letters = try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 10)
        #expect(letters.map(\.reason) == ["gave up"])
        #expect(letters.first?.attempts == 3)
        #expect(letters.first?.eventID == "e1")
        #expect(try await store.deadLetters(tenant: globex, subscription: orders.id, after: nil, limit: 10).isEmpty)

        let letter = try #require(letters.first)
        #expect(try await store.apply([.redrive(globex, orders.id, letter.id)]) == [.notFound])
        let redriven = try await store.apply([.redrive(acme, orders.id, letter.id)])
        guard case .redriven(let fresh) = redriven.first else {
            Issue.record("expected a redriven delivery, got \(redriven)")
            return
        }
        #expect(fresh.attempts == 0)
        #expect(fresh.id > delivery.id)
        #expect(fresh.eventID == "e1")
        #expect(try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 10).isEmpty)
        #expect(try await store.pendingCount(tenant: acme, subscription: orders.id) == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func pendingDeliveriesPageInPublishOrder(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let writes = (0..<25).map { BusWrite.publish(event(acme, "e\($0)", key: "k\($0 % 3)"), subscriptions: [orders.id]) }
        _ = try await store.apply(writes)
        var seen: [String] = []
        var cursor: DeliveryID?
        while true {
            let page = try await store.pendingDeliveries(tenant: acme, subscription: orders.id, after: cursor, limit: 10)
            if page.isEmpty { break }
            seen += page.map(\.eventID)
            cursor = page.last?.id
        }
        #expect(seen == (0..<25).map { "e\($0)" })
        #expect(try await store.pendingDeliveries(tenant: acme, subscription: orders.id, after: nil, limit: 1).first?.partitionKey == "k0")
    }

    @Test(arguments: StoreBackend.allCases)
    func aFailingBatchChangesNothing(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        // The second write names a tenant that does not exist: the whole batch must roll back.
        await #expect(throws: (any Error).self) {
            try await store.apply([
                .publish(event(acme, "ok"), subscriptions: [orders.id]),
                .publish(event(TenantID(trusted: "ghost"), "bad"), subscriptions: []),
            ])
        }
        #expect(try await store.pendingCount(tenant: acme, subscription: orders.id) == 0)
        let retried = try published(try await store.apply([.publish(event(acme, "ok"), subscriptions: [orders.id])])[0])
        #expect(retried.duplicate == false)
    }

    @Test(arguments: StoreBackend.allCases)
    func deletingASubscriptionDropsItsDeliveriesAndDeadLetters(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let result = try await store.apply([
            .publish(event(acme, "a"), subscriptions: [orders.id]), .publish(event(acme, "b"), subscriptions: [orders.id]),
        ])
        let first = try published(result[0]).deliveries[0]
        _ = try await store.apply([.deadLetter(acme, orders.id, first.id, attempts: 1, reason: "x")])
        #expect(try await store.deleteSubscription(tenant: acme, name: "orders"))
        #expect(try await store.pendingCount(tenant: acme, subscription: orders.id) == 0)
        #expect(try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 10).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func inboxRecordsEachEventOncePerConsumerAndTenant(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        #expect(try await store.markProcessed(tenant: acme, consumer: "ordering", eventKey: "/s\u{1F}1", at: Date()) == true)
        #expect(try await store.markProcessed(tenant: acme, consumer: "ordering", eventKey: "/s\u{1F}1", at: Date()) == false)
        #expect(try await store.markProcessed(tenant: acme, consumer: "basket", eventKey: "/s\u{1F}1", at: Date()) == true)
        #expect(try await store.markProcessed(tenant: globex, consumer: "ordering", eventKey: "/s\u{1F}1", at: Date()) == true)
        #expect(try await store.isProcessed(tenant: acme, consumer: "ordering", eventKey: "/s\u{1F}1"))
        #expect(try await store.isProcessed(tenant: acme, consumer: "ordering", eventKey: "/s\u{1F}2") == false)
    }
}
