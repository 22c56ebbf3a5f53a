import BespokeCore
import BespokeStorage
import Foundation
import Testing

/// The storage contract of the Tenant Manager: suspension, purge, the configuration version
/// other processes poll, failing endpoints and the retention of closed holds.
@Suite("Store contract: Tenant Manager")
struct TenantManagerStoreContractTests {
    let acme = TenantID(trusted: "acme")
    let globex = TenantID(trusted: "globex")

    private func prepared(_ backend: StoreBackend) async throws -> any PlatformStore {
        let store = try backend.makeStore()
        for tenant in [acme, globex] {
            try await store.createTenant(TenantRecord(id: tenant, name: tenant.rawValue, createdAt: Date()))
        }
        return store
    }

    private func customization(_ tenant: TenantID, _ id: String, mode: CustomizationMode = .observe) -> Customization {
        Customization(
            id: id, tenant: tenant, eventType: "OrderSubmitted", mode: mode, url: "https://hooks.example/\(id)", order: 0,
            timeout: .seconds(5), holdDeadline: .seconds(60), onDeadline: .resume, enabled: true, disabledReason: nil,
            secrets: [SigningSecret(secret: "whsec_c2VjcmV0", expiresAt: nil)], createdAt: Date()
        )
    }

    private func event(_ tenant: TenantID, _ id: String, key: String? = nil) -> EventToStore {
        var event = CloudEvent(id: id, source: "/shop", type: "OrderSubmitted", data: .object(["orderId": .string(id)]))
        event.partitionKey = key
        return EventToStore(event, tenant: tenant)
    }

    private func stage(_ customization: String) -> HoldStage {
        HoldStage(customization: customization, deadline: Date().addingTimeInterval(60), onDeadline: .cancel)
    }

    @Test(arguments: StoreBackend.allCases)
    func everyConfigurationChangeMovesTheVersion(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        var last = try await store.configurationVersion()
        func moved() async throws -> Bool {
            let now = try await store.configurationVersion()
            defer { last = now }
            return now != last
        }
        try await store.putCatalogEntry(
            CatalogEntry(type: "OrderSubmitted", summary: "", schema: .object([:]), interceptable: true, mutableFields: [], updatedAt: Date())
        )
        #expect(try await moved())
        var registered = customization(acme, "cus_a")
        try await store.insertCustomization(registered)
        #expect(try await moved())
        registered.url = "https://hooks.example/other"
        #expect(try await store.updateCustomization(registered))
        #expect(try await moved())
        #expect(try await store.setSuspended(globex, at: Date()))
        #expect(try await moved())
        // Reading changes nothing.
        _ = try await store.configurationSnapshot()
        _ = try await store.listTenants()
        #expect(try await moved() == false)
        #expect(try await store.deleteCustomization(tenant: acme, id: "cus_a"))
        #expect(try await moved())

        let snapshot = try await store.configurationSnapshot()
        #expect(snapshot.version == last)
        #expect(snapshot.catalog.map(\.type) == ["OrderSubmitted"])
        #expect(snapshot.customizations.isEmpty)
        #expect(snapshot.suspendedTenants == [globex])
    }

    @Test(arguments: StoreBackend.allCases)
    func suspensionKeepsItsFirstDateAndIsLifted(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let first = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try await store.setSuspended(acme, at: first))
        #expect(try await store.setSuspended(acme, at: first.addingTimeInterval(60)))
        #expect(try await store.tenant(acme)?.suspendedAt == first)
        #expect(try await store.tenant(globex)?.isSuspended == false)
        #expect(try await store.setSuspended(acme, at: nil))
        #expect(try await store.tenant(acme)?.isSuspended == false)
        #expect(try await store.setSuspended(TenantID(trusted: "nobody"), at: Date()) == false)
    }

    @Test(arguments: StoreBackend.allCases)
    func purgingATenantDeletesEveryRowOfItAndNothingElse(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        // The same kinds of rows for both tenants.
        for tenant in [acme, globex] {
            try await store.insertAPIKey(
                APIKeyRecord(id: "key-\(tenant)", tenant: tenant, secretHash: "hash-\(tenant)", createdAt: Date())
            )
            let subscription = try await store.createSubscription(
                NewSubscription(tenant: tenant, name: "product", filter: EventTypeFilter([]), policy: DeliveryPolicy(maxAttempts: 1)),
                at: Date()
            )
            let observer = customization(tenant, "cus_\(tenant)")
            try await store.insertCustomization(observer)
            let results = try await store.apply([
                .publish(event(tenant, "e1")), .publish(event(tenant, "e2")),
                .admit(event(tenant, "e3", key: "k"), intercept: stage(observer.id)),
            ])
            guard case .published(let seq, _, _) = results[0] else { throw StoreTestError("not published: \(results[0])") }
            let delivery = DeliveryID.stream(seq)
            _ = try await store.apply([.deadLetter(tenant, subscription.id, delivery, attempts: 1, reason: "test")])
            _ = try await store.markProcessed(tenant: tenant, consumer: "ordering", eventKey: "e1", at: Date())
            try await store.recordAttempts([
                DeliveryAttempt(
                    tenant: tenant, customization: observer.id, messageID: "m", eventID: "e1", attemptedAt: Date(), status: 500,
                    latency: .milliseconds(3), error: "endpoint answered 500"
                )
            ])
        }

        let purge = try #require(try await store.purgeTenant(acme))
        #expect(purge.rowsByTable["tenants"] == 1)
        #expect(purge.rowsByTable["events"] == 2)
        #expect(purge.rowsByTable["holds"] == 1)
        #expect(purge.rowsByTable["customizations"] == 1)
        #expect(purge.rowsByTable["delivery_attempts"] == 1)
        #expect(purge.rowsByTable["dead_letters"] == 1)
        #expect(purge.rowsByTable["inbox"] == 1)
        #expect(purge.rowsByTable["api_keys"] == 1)
        #expect(purge.rowsByTable["subscriptions"] == 1)

        // Nothing of acme is left to find.
        #expect(try await store.tenant(acme) == nil)
        #expect(try await store.apiKeys(tenant: acme).isEmpty)
        #expect(try await store.subscriptions(tenant: acme).isEmpty)
        #expect(try await store.customizations(tenant: acme).isEmpty)
        #expect(try await store.holds(tenant: acme, states: HoldState.allCases, limit: 100).isEmpty)
        #expect(try await store.isProcessed(tenant: acme, consumer: "ordering", eventKey: "e1") == false)
        #expect(try await store.purgeTenant(acme) == nil)

        // Everything of globex is still there.
        #expect(try await store.tenant(globex) != nil)
        #expect(try await store.apiKeys(tenant: globex).count == 1)
        let globexSubscription = try #require(try await store.subscription(tenant: globex, name: "product"))
        #expect(try await store.deadLetters(tenant: globex, subscription: globexSubscription.id, after: nil, limit: 10).count == 1)
        #expect(try await store.pendingDeliveries(globexSubscription, after: nil, limit: 10).deliveries.map(\.eventID) == ["e2"])
        #expect(try await store.customizations(tenant: globex).count == 1)
        #expect(try await store.deliveryAttempts(tenant: globex, customization: "cus_globex", matching: AttemptQuery(limit: 10)).attempts.count == 1)
        #expect(try await store.holds(tenant: globex, states: [.held], limit: 10).count == 1)
        #expect(try await store.isProcessed(tenant: globex, consumer: "ordering", eventKey: "e1"))
        // And the id can be used again.
        try await store.createTenant(TenantRecord(id: acme, name: "Acme again", createdAt: Date()))
        #expect(try await store.listTenants().count == 2)
    }

    @Test(arguments: StoreBackend.allCases)
    func failingSinceIsStoredPerCustomizationOfItsTenant(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        try await store.insertCustomization(customization(acme, "cus_a"))
        let since = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try await store.setFailingSince(tenant: acme, id: "cus_a", since: since))
        #expect(try await store.setFailingSince(tenant: globex, id: "cus_a", since: nil) == false)
        #expect(try await store.customizations(tenant: acme).first?.failingSince == since)
        #expect(try await store.setFailingSince(tenant: acme, id: "cus_a", since: nil))
        #expect(try await store.customizations(tenant: acme).first?.failingSince == nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func closedHoldsAreDeletedAfterTheirRetentionAndActiveOnesNever(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        let results = try await store.apply([
            .admit(event(acme, "cancelled"), intercept: stage("cus_a")),
            .admit(event(acme, "still-held"), intercept: stage("cus_a")),
        ])
        guard case .held(let toCancel, _) = results[0] else { throw StoreTestError("not held: \(results[0])") }
        _ = try await store.apply([.closeHold(acme, holdID: toCancel.id, step: toCancel.step, state: .cancelled, reason: "test")])
        // Closed just now: a cutoff in the past keeps it.
        #expect(try await store.deleteClosedHolds(closedBefore: Date().addingTimeInterval(-60), limit: 100) == 0)
        #expect(try await store.deleteClosedHolds(closedBefore: Date().addingTimeInterval(1), limit: 100) == 1)
        let left = try await store.holds(tenant: acme, states: HoldState.allCases, limit: 10)
        #expect(left.map(\.eventID) == ["still-held"])
    }

    @Test(arguments: StoreBackend.allCases)
    func pushAttemptsAreDeletedOldestFirstWithinABoundedLook(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        try await store.insertCustomization(customization(acme, "cus_a"))
        try await store.insertCustomization(customization(globex, "cus_g"))
        let now = Date()
        let old = now.addingTimeInterval(-40 * 86_400)
        func attempt(_ tenant: TenantID, _ customization: String, _ message: String, at date: Date) -> DeliveryAttempt {
            DeliveryAttempt(
                tenant: tenant, customization: customization, messageID: message, eventID: "e", attemptedAt: date, status: 200,
                latency: .milliseconds(1), error: nil
            )
        }
        // Recorded in this order; the last one was made long ago but recorded after a young one.
        try await store.recordAttempts([
            attempt(acme, "cus_a", "old-1", at: old), attempt(globex, "cus_g", "old-2", at: old),
            attempt(acme, "cus_a", "young", at: now), attempt(acme, "cus_a", "old-3", at: old),
        ])
        let cutoff = now.addingTimeInterval(-30 * 86_400)
        // The two oldest, of both tenants.
        #expect(try await store.deleteAttempts(madeBefore: cutoff, limit: 2) == 2)
        // Of the next two, only the old one goes; fewer than the limit tells the caller to stop.
        #expect(try await store.deleteAttempts(madeBefore: cutoff, limit: 2) == 1)
        #expect(try await store.deleteAttempts(madeBefore: cutoff, limit: 2) == 0)
        #expect(try await store.deliveryAttempts(tenant: acme, customization: "cus_a", matching: AttemptQuery()).attempts.map(\.messageID) == ["young"])
        #expect(try await store.deliveryAttempts(tenant: globex, customization: "cus_g", matching: AttemptQuery()).attempts.isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func aCustomizationsFilterAndRateLimitAreStoredChangedAndRemoved(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        var registered = customization(acme, "cus_f")
        registered.filter = .all([.exact(["data.address.country": "NO", "source": "/shop"]), .not(.prefix(["subject": "test/"]))])
        try await store.insertCustomization(registered)
        // (Compared by filter: a creation time goes through the store's clock resolution.)
        #expect(try await store.customizations(tenant: acme).map(\.filter) == [registered.filter])
        #expect(try await store.configurationSnapshot().customizations.map(\.filter) == [registered.filter])
        registered.filter = .any([.suffix(["data.orderId": "-x"])])
        #expect(try await store.updateCustomization(registered))
        #expect(try await store.customizations(tenant: acme).first?.filter == registered.filter)
        registered.filter = nil
        registered.rateLimit = 2.5
        registered.maxAttempts = 3
        #expect(try await store.updateCustomization(registered))
        #expect(try await store.customizations(tenant: acme).first?.maxAttempts == 3)
        #expect(try await store.customizations(tenant: acme).first?.filter == nil)
        #expect(try await store.customizations(tenant: acme).first?.rateLimit == 2.5)
    }

    @Test(arguments: StoreBackend.allCases)
    func theAttemptLogIsFilteredAndPagedWithABoundedLook(_ backend: StoreBackend) async throws {
        let store = try await prepared(backend)
        try await store.insertCustomization(customization(acme, "cus_a"))
        try await store.insertCustomization(customization(globex, "cus_g"))
        let start = Date().addingTimeInterval(-3600)
        // Twenty attempts a minute apart: e0...e9, each failed (503, then no answer) then delivered.
        var attempts: [DeliveryAttempt] = []
        for index in 0..<20 {
            let event = "e\(index / 2)"
            let status: Int? = index % 2 == 1 ? 200 : (index % 4 == 0 ? 503 : nil)
            attempts.append(
                DeliveryAttempt(
                    tenant: acme, customization: "cus_a", messageID: "msg_\(event)", eventID: event,
                    attemptedAt: start.addingTimeInterval(Double(index) * 60), status: status, latency: .milliseconds(2),
                    error: status == 200 ? nil : "failed"
                )
            )
        }
        try await store.recordAttempts(attempts)
        try await store.recordAttempts([
            DeliveryAttempt(tenant: globex, customization: "cus_g", messageID: "msg_e9", eventID: "e9", attemptedAt: Date(), status: 500, latency: .zero, error: "x")
        ])
        func page(_ query: AttemptQuery, tenant: TenantID? = nil, customization: String = "cus_a") async throws -> AttemptPage {
            try await store.deliveryAttempts(tenant: tenant ?? acme, customization: customization, matching: query)
        }
        func events(_ page: AttemptPage) -> [String] { page.attempts.map(\.eventID) }

        // Newest first, with ids that page.
        let first = try await page(AttemptQuery(limit: 3))
        #expect(events(first) == ["e9", "e9", "e8"])
        #expect(first.attempts.map(\.status) == [200, nil, 200])
        let ids = first.attempts.compactMap(\.id)
        #expect(ids.count == 3 && ids == ids.sorted(by: >))
        let second = try await page(AttemptQuery(before: first.next, limit: 3))
        #expect(events(second) == ["e8", "e7", "e7"])
        // Filters.
        #expect(try await page(AttemptQuery(outcome: .failed, limit: 4)).attempts.map(\.status) == [nil, 503, nil, 503])
        #expect(try await page(AttemptQuery(outcome: .succeeded, limit: 100)).attempts.count == 10)
        #expect(events(try await page(AttemptQuery(eventID: "e3"))) == ["e3", "e3"])
        #expect(try await page(AttemptQuery(outcome: .failed, messageID: "msg_e3")).attempts.map(\.status) == [nil])
        let recent = try await page(AttemptQuery(since: start.addingTimeInterval(17 * 60)))
        #expect(events(recent) == ["e9", "e9", "e8"])
        #expect(recent.next == nil)
        // Another tenant's attempts never show, whatever the customization id asked.
        #expect(try await page(AttemptQuery(eventID: "e9"), tenant: globex, customization: "cus_a").attempts.isEmpty)
        #expect(try await page(AttemptQuery(), tenant: globex, customization: "cus_g").attempts.map(\.status) == [500])

        // A look of 4 attempts a page: a rare match comes after pages with none, each with a next.
        var query = AttemptQuery(eventID: "e1", limit: 10, scanLimit: 4)
        var found: [String] = []
        var pages = 0
        repeat {
            let result = try await page(query)
            found += events(result)
            pages += 1
            query.before = result.next
        } while query.before != nil && pages < 10
        #expect(found == ["e1", "e1"])
        #expect(pages == 5)
        // With `since`, the look stops once what is left was made too long before it to match
        // (more than the recording slack, five minutes), however much is left.
        var recentQuery = AttemptQuery(since: start.addingTimeInterval(10 * 60), limit: 100, scanLimit: 3)
        var recentFound: [Int64] = []
        var recentPages = 0
        repeat {
            let result = try await page(recentQuery)
            recentFound += result.attempts.compactMap(\.id)
            recentPages += 1
            recentQuery.before = result.next
        } while recentQuery.before != nil && recentPages < 10
        #expect(recentFound.count == 10)
        #expect(recentPages == 5, "the attempts made over five minutes before `since` are not looked at")
    }
}

struct StoreTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
