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

    private func subscribe(
        _ store: any PlatformStore, _ tenant: TenantID, _ name: String, types: [String] = [], maxAttempts: Int = 3
    ) async throws -> Subscription {
        try await store.createSubscription(
            NewSubscription(tenant: tenant, name: name, filter: EventTypeFilter(types), policy: DeliveryPolicy(maxAttempts: maxAttempts)),
            at: Date()
        )
    }

    /// Publishes events and returns their sequence numbers.
    @discardableResult
    private func publish(_ store: any PlatformStore, _ events: [EventToStore]) async throws -> [Int64] {
        try await store.apply(events.map(BusWrite.publish)).map { result in
            guard case .published(let seq, _, _) = result else {
                Issue.record("expected a publish result, got \(result)")
                return -1
            }
            return seq
        }
    }

    private func pending(_ store: any PlatformStore, _ subscription: Subscription, after: Int64? = nil, limit: Int = 100) async throws -> [Delivery] {
        try await store.pendingDeliveries(subscription, after: after, limit: limit).deliveries
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
        let read = try #require(try await store.subscription(tenant: acme, name: "orders"))
        #expect(read.id == created.id && read.cursor == created.cursor && read.policy == created.policy && read.filter == created.filter)
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
        let first = try await store.apply([.publish(event(acme, "e1"))])
        let again = try await store.apply([.publish(event(acme, "e1"))])
        guard case .published(let seq, _, false) = first[0], case .published(let same, _, true) = again[0] else {
            Issue.record("unexpected results \(first) \(again)")
            return
        }
        #expect(same == seq)
        // The same id in another tenant is another event.
        guard case .published(_, _, false) = try await store.apply([.publish(event(globex, "e1"))])[0] else {
            Issue.record("another tenant's event was taken for a duplicate")
            return
        }
        #expect(try await pending(store, orders).map(\.eventID) == ["e1"])
        #expect(try await store.pendingCount(orders, settledThrough: nil) == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func aSubscriptionSeesItsTenantsEventsOfItsTypesFromItsCreationOn(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        try await publish(store, [event(acme, "before")])
        let orders = try await subscribe(store, acme, "orders", types: ["Order*"])
        #expect(orders.cursor > 0)
        try await publish(store, [
            event(acme, "a1", key: "k1"), event(globex, "g1"), event(acme, "skip", type: "BasketCleared"),
            event(acme, "a2", type: "OrderPaid"),
        ])
        let deliveries = try await pending(store, orders)
        #expect(deliveries.map(\.eventID) == ["a1", "a2"])
        #expect(deliveries.allSatisfy { $0.tenant == acme && $0.subscription == orders.id && !$0.id.isRedelivery })
        #expect(deliveries.first?.partitionKey == "k1")
        #expect(deliveries.first?.id == .stream(deliveries.first?.eventSeq ?? 0))
        #expect(try deliveries.first?.event().tenantID == "acme")
        #expect(try await store.pendingCount(orders, settledThrough: nil) == 2)
    }

    @Test(arguments: StoreBackend.allCases)
    func pendingDeliveriesPageThroughTheLogInOrder(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders", types: ["OrderStarted"])
        try await publish(store, (0..<200).map { index in
            index % 2 == 0 ? event(acme, "e\(index)") : event(acme, "x\(index)", type: "Other")
        })
        var seen: [String] = []
        var after: Int64?
        while true {
            let page = try await store.pendingDeliveries(orders, after: after, limit: 30)
            seen += page.deliveries.map(\.eventID)
            after = page.scannedThrough
            if page.exhausted { break }
            #expect(page.deliveries.count == 30)
        }
        #expect(seen == stride(from: 0, to: 200, by: 2).map { "e\($0)" })
        let empty = try await store.pendingDeliveries(orders, after: after, limit: 30)
        #expect(empty.deliveries.isEmpty && empty.exhausted)
    }

    @Test(arguments: StoreBackend.allCases)
    func cursorsMoveForwardOnlyAndOnlyForTheirTenant(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let seqs = try await publish(store, (0..<5).map { event(acme, "e\($0)") })
        #expect(try await store.apply([.advanceCursor(globex, orders.id, to: seqs[4])]) == [.notFound])
        #expect(try await pending(store, orders).count == 5)
        #expect(try await store.apply([.advanceCursor(acme, orders.id, to: seqs[2])]) == [.applied])
        #expect(try await pending(store, orders).map(\.eventID) == ["e3", "e4"])
        #expect(try await store.apply([.advanceCursor(acme, orders.id, to: seqs[0])]) == [.applied])
        #expect(try await pending(store, orders).map(\.eventID) == ["e3", "e4"])
        #expect(try await store.subscription(tenant: acme, name: "orders")?.cursor == seqs[2])
        #expect(try await store.pendingCount(orders, settledThrough: nil) == 2)
    }

    @Test(arguments: StoreBackend.allCases)
    func failuresAreRecordedForPendingEventsOnlyAndDroppedBehindTheCursor(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let spy = try await subscribe(store, globex, "spy")
        let seqs = try await publish(store, [event(acme, "e1"), event(acme, "e2")])
        let later = Date().addingTimeInterval(60)
        let attempts: [BusWrite] = [
            .recordFailure(globex, orders.id, .stream(seqs[0]), attempts: 1, notBefore: later, error: "x"),
            .recordFailure(globex, spy.id, .stream(seqs[0]), attempts: 1, notBefore: later, error: "x"),
            .recordFailure(acme, spy.id, .stream(seqs[0]), attempts: 1, notBefore: later, error: "x"),
            .deadLetter(globex, spy.id, .stream(seqs[0]), attempts: 1, reason: "x"),
        ]
        #expect(try await store.apply(attempts) == Array(repeating: .notFound, count: attempts.count))
        #expect(try await store.apply([.recordFailure(acme, orders.id, .stream(seqs[0]), attempts: 2, notBefore: later, error: "boom")]) == [.applied])
        let failed = try #require(try await pending(store, orders).first)
        #expect(failed.attempts == 2)
        #expect(failed.lastError == "boom")
        #expect(abs((failed.notBefore ?? .distantPast).timeIntervalSince(later)) < 0.01)
        // Once the cursor passes the event, its failure is gone and it can fail no more.
        _ = try await store.apply([.advanceCursor(acme, orders.id, to: seqs[0])])
        #expect(try await store.apply([.recordFailure(acme, orders.id, .stream(seqs[0]), attempts: 3, notBefore: later, error: "x")]) == [.notFound])
        #expect(try await pending(store, orders).map(\.attempts) == [0])
    }

    @Test(arguments: StoreBackend.allCases)
    func deadLettersAreRedrivenAsRedeliveriesOfTheirOwnTenant(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let seqs = try await publish(store, [event(acme, "e1")])
        #expect(try await store.apply([.deadLetter(acme, orders.id, .stream(seqs[0]), attempts: 3, reason: "gave up")]) == [.applied])
        // Before the cursor passes it (a crash right after dead-lettering), it is not read again.
        #expect(try await pending(store, orders).isEmpty)
        let letters = try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 10)
        #expect(letters.map(\.reason) == ["gave up"])
        #expect(letters.first?.attempts == 3)
        #expect(letters.first?.eventID == "e1")
        #expect(try await store.deadLetters(tenant: globex, subscription: orders.id, after: nil, limit: 10).isEmpty)

        let letter = try #require(letters.first)
        #expect(try await store.apply([.redrive(globex, orders.id, letter.id)]) == [.notFound])
        let redriven = try await store.apply([.redrive(acme, orders.id, letter.id)])
        guard case .redriven(let redelivery) = redriven.first else {
            Issue.record("expected a redelivery, got \(redriven)")
            return
        }
        #expect(redelivery.id.isRedelivery)
        #expect(redelivery.attempts == 0)
        #expect(redelivery.eventID == "e1")
        #expect(try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 10).isEmpty)
        #expect(try await store.redeliveries(orders).map(\.id) == [redelivery.id])
        #expect(try await pending(store, orders).isEmpty, "a redriven event comes as its redelivery only")
        _ = try await store.apply([.advanceCursor(acme, orders.id, to: seqs[0])])
        #expect(try await store.pendingCount(orders, settledThrough: nil) == 1)

        let later = Date().addingTimeInterval(5)
        #expect(try await store.apply([.recordFailure(acme, orders.id, redelivery.id, attempts: 1, notBefore: later, error: "again")]) == [.applied])
        #expect(try await store.redeliveries(orders).first?.lastError == "again")
        #expect(try await store.apply([.settleRedelivery(globex, orders.id, redelivery.id)]) == [.notFound])
        #expect(try await store.apply([.settleRedelivery(acme, orders.id, redelivery.id)]) == [.applied])
        #expect(try await store.redeliveries(orders).isEmpty)
        #expect(try await store.apply([.settleRedelivery(acme, orders.id, redelivery.id)]) == [.notFound])
    }

    /// A whole retention sweep, `step` events looked at a transaction; returns how many it
    /// deleted, and how many steps it took.
    private func sweep(_ store: any PlatformStore, before date: Date, step: Int) async throws -> (deleted: Int, steps: Int) {
        var deleted = 0
        var steps = 0
        var position: Int64?
        repeat {
            let done = try await store.deleteSettledEvents(storedBefore: date, after: position, limit: step)
            if let next = done.resumeAfter { #expect(next > position ?? 0, "a sweep moves forward") }
            deleted += done.deleted
            position = done.resumeAfter
            steps += 1
        } while position != nil && steps < 1000
        return (deleted, steps)
    }

    @Test(arguments: StoreBackend.allCases)
    func onlyEventsNoSubscriptionNeedsAreDeletedPastTheirRetention(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let audit = try await subscribe(store, acme, "audit")
        let seqs = try await publish(store, (1...5).map { event(acme, "a\($0)") } + [event(globex, "g1")])
        // orders has settled a1-a4 (a1 as a dead letter, a2 replayed since), audit a1-a3;
        // globex has no subscription.
        _ = try await store.apply([
            .deadLetter(acme, orders.id, .stream(seqs[0]), attempts: 1, reason: "gave up"),
            .advanceCursor(acme, orders.id, to: seqs[3]),
            .advanceCursor(acme, audit.id, to: seqs[2]),
            .replay(acme, orders.id, eventSeq: seqs[1]),
        ])
        // Stored just now: a cutoff in the past keeps everything, in one step.
        #expect(try await store.deleteSettledEvents(storedBefore: Date().addingTimeInterval(-60), after: nil, limit: 100)
            == EventDeletion(deleted: 0, resumeAfter: nil))
        let later = Date().addingTimeInterval(1)
        // Both subscriptions have old events to settle (a5; a4 and a5); none with a past cutoff.
        #expect(try await store.subscriptionsHoldingBack(storedBefore: later).map(\.name) == ["audit", "orders"])
        #expect(try await store.subscriptionsHoldingBack(storedBefore: Date().addingTimeInterval(-60)).isEmpty)
        // a3 (settled by both, nothing refers to it) and g1, two events looked at a step.
        #expect(try await sweep(store, before: later, step: 2) == (2, 3))
        #expect(try await sweep(store, before: later, step: 2).deleted == 0)

        // What the subscriptions still need is all there.
        #expect(try await pending(store, orders).map(\.eventID) == ["a5"])
        #expect(try await pending(store, audit).map(\.eventID) == ["a4", "a5"])
        #expect(try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 10).map(\.eventID) == ["a1"])
        #expect(try await store.redeliveries(orders).map(\.eventID) == ["a2"])
        // a3 is gone: it cannot be replayed, and publishing it again stores it anew.
        #expect(try await store.apply([.replay(acme, orders.id, eventSeq: seqs[2])]) == [.notFound])
        guard case .published(let seq, _, false) = try await store.apply([.publish(event(acme, "a3"))])[0] else {
            Issue.record("a3 was taken for a duplicate after its deletion")
            return
        }
        #expect(seq > seqs[5])
        // Once the dead letter is redriven and settled, its event can go too.
        let letter = try #require(try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 1).first)
        guard case .redriven(let redelivery) = try await store.apply([.redrive(acme, orders.id, letter.id)])[0] else {
            Issue.record("not redriven")
            return
        }
        _ = try await store.apply([.settleRedelivery(acme, orders.id, redelivery.id)])
        #expect(try await sweep(store, before: later, step: 2).deleted == 1)
        // orders settles its stream, the republished a3 too; its redelivery of a2 still holds a2.
        _ = try await store.apply([.advanceCursor(acme, orders.id, to: seq)])
        #expect(try await store.subscriptionsHoldingBack(storedBefore: later).map(\.name) == ["audit", "orders"])
        let replayed = try #require(try await store.redeliveries(orders).first)
        _ = try await store.apply([.settleRedelivery(acme, orders.id, replayed.id)])
        #expect(try await store.subscriptionsHoldingBack(storedBefore: later).map(\.name) == ["audit"])
    }

    @Test(arguments: StoreBackend.allCases)
    func aSweepStopsAtTheEventsStoredAfterItsCutoff(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, globex, "orders")
        let seqs = try await publish(store, (1...9).map { event(globex, "old-\($0)") })
        try await Task.sleep(for: .milliseconds(30))
        let cutoff = Date()
        try await Task.sleep(for: .milliseconds(30))
        let young = try await publish(store, (1...4).map { event(globex, "young-\($0)") })
        // Settled through the end of the log, but a dead letter keeps old-5.
        #expect(try await store.apply([
            .deadLetter(globex, orders.id, .stream(seqs[4]), attempts: 1, reason: "x"), .advanceCursor(globex, orders.id, to: young[3]),
        ]) == [.applied, .applied])
        let first = try await sweep(store, before: cutoff, step: 4)
        #expect(first.deleted == 8)
        // The young events were not even looked at: three steps of four cover the nine old ones.
        #expect(first.steps == 3)
        // old-5 is now the log's old part, alone before gaps left by the deleted events.
        #expect(try await sweep(store, before: cutoff, step: 4) == (0, 1))
        #expect(try await sweep(store, before: Date().addingTimeInterval(1), step: 3) == (4, 2))
        #expect(try await store.deadLetters(tenant: globex, subscription: orders.id, after: nil, limit: 10).map(\.eventID) == ["old-5"])
    }

    @Test(arguments: StoreBackend.allCases)
    func aFailingBatchChangesNothing(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        // The second write names a tenant that does not exist: the whole batch must roll back.
        await #expect(throws: (any Error).self) {
            try await store.apply([.publish(event(acme, "ok")), .publish(event(TenantID(trusted: "ghost"), "bad"))])
        }
        #expect(try await pending(store, orders).isEmpty)
        guard case .published(_, _, false) = try await store.apply([.publish(event(acme, "ok"))])[0] else {
            Issue.record("the rolled-back event was taken for a duplicate")
            return
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func deletingASubscriptionDropsItsFailuresRedeliveriesAndDeadLetters(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let orders = try await subscribe(store, acme, "orders")
        let seqs = try await publish(store, [event(acme, "a"), event(acme, "b")])
        _ = try await store.apply([
            .deadLetter(acme, orders.id, .stream(seqs[0]), attempts: 1, reason: "x"),
            .recordFailure(acme, orders.id, .stream(seqs[1]), attempts: 1, notBefore: Date(), error: "y"),
        ])
        let letter = try #require(try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 1).first)
        _ = try await store.apply([.redrive(acme, orders.id, letter.id)])
        #expect(try await store.deleteSubscription(tenant: acme, name: "orders"))
        #expect(try await store.redeliveries(orders).isEmpty)
        #expect(try await store.deadLetters(tenant: acme, subscription: orders.id, after: nil, limit: 10).isEmpty)
        #expect(try await store.pendingDeliveries(orders, after: nil, limit: 10).deliveries.isEmpty)
        #expect(try await store.apply([.advanceCursor(acme, orders.id, to: seqs[1])]) == [.notFound])
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

    @Test(arguments: StoreBackend.allCases)
    func inboxRecordsAreForgottenOldestFirstOnceBeforeTheCutoff(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let cutoff = Date()
        let records: [(TenantID, String, String, Double)] = [
            (acme, "ordering", "e1", -300), (globex, "basket", "e2", -200), (acme, "basket", "e3", -100), (acme, "ordering", "e4", 10),
        ]
        for (tenant, consumer, key, offset) in records {
            _ = try await store.markProcessed(tenant: tenant, consumer: consumer, eventKey: key, at: cutoff.addingTimeInterval(offset))
        }
        func remembered() async throws -> [String] {
            var keys: [String] = []
            for (tenant, consumer, key, _) in records where try await store.isProcessed(tenant: tenant, consumer: consumer, eventKey: key) {
                keys.append(key)
            }
            return keys
        }
        #expect(try await store.deleteProcessed(before: cutoff, limit: 0) == 0)
        #expect(try await store.deleteProcessed(before: cutoff, limit: 2) == 2)
        #expect(try await remembered() == ["e3", "e4"])
        #expect(try await store.deleteProcessed(before: cutoff, limit: 2) == 1)
        #expect(try await store.deleteProcessed(before: cutoff, limit: 2) == 0)
        #expect(try await remembered() == ["e4"])
        // A forgotten event is handled anew.
        #expect(try await store.markProcessed(tenant: acme, consumer: "ordering", eventKey: "e1", at: Date()) == true)
    }
}
