public import BespokeBus
public import BespokeCore
public import BespokeStorage
import BespokeWebhooks
import Foundation
public import Logging
import Synchronization

/// The Tenant Manager: the product's event catalog and each tenant's customizations.
///
/// Every change goes to the store first and then to the in-memory ``CustomizationIndex`` the
/// bus decides from, so it takes effect for the next event admitted. An observer is backed by a
/// durable bus subscription of its tenant (`customization.<id>`), so its pushes have the bus's
/// cursor, retries, dead letters and replay.
public final class TenantManager: Sendable {
    public typealias Store = TenantStore & CatalogStore & CustomizationStore

    let store: any Store
    let bus: EventBus
    public let index: CustomizationIndex
    public let configuration: CustomizationConfiguration
    let logger: Logger
    private let dataOwners = Mutex<[any TenantDataOwner]>([])
    /// Outbound checks of endpoints, shared by the pushes and the UI slot calls.
    let endpointChecks: EndpointChecks

    public init(store: any Store, bus: EventBus, index: CustomizationIndex, configuration: CustomizationConfiguration, logger: Logger) {
        self.store = store
        self.bus = bus
        self.index = index
        self.configuration = configuration
        self.logger = logger
        self.endpointChecks = EndpointChecks(policy: configuration.outbound)
    }

    // MARK: Tenants

    /// Adds a part whose tenant rows are purged with the tenant's (a product's database).
    public func addDataOwner(_ owner: any TenantDataOwner) {
        dataOwners.withLock { $0.append(owner) }
    }

    /// A tenant. - Throws: ``BespokeError`` `not_found`.
    public func tenant(_ id: TenantID) async throws -> TenantRecord {
        guard let tenant = try await store.tenant(id) else { throw BespokeError.notFound("tenant") }
        return tenant
    }

    /// Suspends a tenant: its credentials are refused (`tenant_suspended`), its endpoints get
    /// no pushes and its new events are not intercepted. Its data, and its events already in
    /// custody (with their deadlines), are kept. - Throws: ``BespokeError`` `not_found`.
    @discardableResult
    public func suspend(_ id: TenantID) async throws -> TenantRecord {
        guard try await store.setSuspended(id, at: Date()) else { throw BespokeError.notFound("tenant") }
        index.setSuspended(id, true)
        logger.notice("tenant suspended", metadata: ["tenant": "\(id)"])
        return try await tenant(id)
    }

    /// Lifts a suspension. - Throws: ``BespokeError`` `not_found`.
    @discardableResult
    public func reinstate(_ id: TenantID) async throws -> TenantRecord {
        guard try await store.setSuspended(id, at: nil) else { throw BespokeError.notFound("tenant") }
        index.setSuspended(id, false)
        logger.notice("tenant reinstated", metadata: ["tenant": "\(id)"])
        // Held events that were not pushed while it was suspended. (Where this process runs no
        // bus, the suspension is lifted all the same; a restart of the bus pushes them.)
        _ = try? await bus.repushHeld(tenant: id) { $0.pushedAt == nil }
        return try await tenant(id)
    }

    /// Deletes a tenant and purges every row of it, in every table, in one transaction. Its
    /// customizations leave the index and its subscriptions leave the bus first, so nothing of
    /// it is pushed, delivered or intercepted meanwhile. - Throws: ``BespokeError`` `not_found`.
    public func deleteTenant(_ id: TenantID) async throws -> TenantPurge {
        _ = try await tenant(id)
        index.removeTenant(id)
        await bus.forget(tenant: id)
        guard var purge = try await store.purgeTenant(id) else { throw BespokeError.notFound("tenant") }
        for owner in dataOwners.withLock({ $0 }) {
            purge = purge.adding(try await owner.purge(tenant: id))
        }
        logger.notice("tenant deleted and purged", metadata: ["tenant": "\(id)", "rows": "\(purge.totalRows)"])
        return purge
    }

    /// How many subscriptions the tenant has on the bus (its observers' included).
    public func subscriptionCount(tenant: TenantID) -> Int {
        bus.subscriptions(tenant: tenant).count
    }

    /// Reloads the index if another process changed the catalog, a registration or a
    /// suspension since it was loaded. - Returns: whether it reloaded.
    public func synchronize() async throws -> Bool {
        try await index.reload(from: store)
    }

    // MARK: Catalog

    /// Creates or replaces a catalog entry.
    /// - Throws: ``BespokeError`` `invalid_request` for a bad type name, schema or field list.
    @discardableResult
    public func putCatalogEntry(
        type: String, summary: String, schema: JSONValue, interceptable: Bool, mutableFields: [String]
    ) async throws -> CatalogEntry {
        guard !type.isEmpty, type.utf8.count <= 256 else {
            throw BespokeError(.invalidRequest, "an event type must be 1-256 characters")
        }
        _ = try JSONSchema(schema)
        guard mutableFields.count <= 100, Set(mutableFields).count == mutableFields.count, mutableFields.allSatisfy({ !$0.isEmpty }) else {
            throw BespokeError(.invalidRequest, "mutableFields must be distinct, non-empty member names (at most 100)")
        }
        guard summary.count <= 1000 else { throw BespokeError(.invalidRequest, "summary must be at most 1000 characters") }
        if !mutableFields.isEmpty, !interceptable {
            throw BespokeError(.invalidRequest, "only an interceptable type can have mutableFields")
        }
        let entry = CatalogEntry(
            type: type, summary: summary, schema: schema, interceptable: interceptable,
            mutableFields: mutableFields, updatedAt: Date()
        )
        try await store.putCatalogEntry(entry)
        index.put(entry)
        return entry
    }

    /// Removes a type from the catalog. Registrations for it stay, but no new one can be made.
    public func deleteCatalogEntry(type: String) async throws {
        guard try await store.deleteCatalogEntry(type: type) else { throw BespokeError.notFound("event type") }
        index.removeCatalogEntry(type)
    }

    // MARK: Customizations

    /// Changes to a registration; nil members stay as they are.
    public struct Changes: Sendable {
        public var url: String?
        public var order: Int?
        public var timeout: Duration?
        public var holdDeadline: Duration?
        public var onDeadline: HoldOutcome?
        public var enabled: Bool?
        /// A filter set or removed (every event of the type); nil keeps it.
        public var filter: Change<EventFilter>?
        /// A rate limit set or removed; nil keeps it.
        public var rateLimit: Change<Double>?
        /// A limit of pushes of one event set or removed (the retry schedule); nil keeps it.
        public var maxAttempts: Change<Int>?

        /// A setting given a value, or taken away.
        public enum Change<Value: Sendable & Equatable>: Sendable, Equatable {
            case set(Value)
            case remove

            /// The setting after this change.
            var value: Value? {
                if case .set(let value) = self { return value }
                return nil
            }
        }

        public init(
            url: String? = nil, order: Int? = nil, timeout: Duration? = nil, holdDeadline: Duration? = nil,
            onDeadline: HoldOutcome? = nil, enabled: Bool? = nil, filter: Change<EventFilter>? = nil, rateLimit: Change<Double>? = nil,
            maxAttempts: Change<Int>? = nil
        ) {
            self.maxAttempts = maxAttempts
            self.filter = filter
            self.rateLimit = rateLimit
            self.url = url
            self.order = order
            self.timeout = timeout
            self.holdDeadline = holdDeadline
            self.onDeadline = onDeadline
            self.enabled = enabled
        }

        /// Applies the changes. Enabling clears the reason the platform disabled it for.
        func apply(to customization: inout Customization) {
            if let url { customization.url = url }
            if let order { customization.order = order }
            if let timeout { customization.timeout = timeout }
            if let holdDeadline { customization.holdDeadline = holdDeadline }
            if let onDeadline { customization.onDeadline = onDeadline }
            if let filter { customization.filter = filter.value }
            if let rateLimit { customization.rateLimit = rateLimit.value }
            if let maxAttempts { customization.maxAttempts = maxAttempts.value }
            if let enabled {
                customization.enabled = enabled
                if enabled {
                    customization.disabledReason = nil
                    customization.failingSince = nil
                }
            }
        }
    }

    /// Registers a customization and returns it with its signing secret, which is shown only here.
    /// - Throws: ``BespokeError`` `unknown_event_type`, `not_interceptable`,
    ///   `forbidden_endpoint`, `invalid_request`.
    /// `settings` left out take the configured defaults (order 0, outcome `resume`, enabled).
    public func register(
        tenant: TenantID, eventType: String, mode: CustomizationMode, url: String, _ settings: Changes = Changes()
    ) async throws -> (Customization, secret: String) {
        guard let entry = index.catalogEntry(eventType) else {
            throw BespokeError(.unknownEventType, "'\(eventType)' is not in the product's event catalog")
        }
        if mode == .intercept, !entry.interceptable {
            throw BespokeError(.notInterceptable, "'\(entry.type)' may be observed but not intercepted")
        }
        let isSlot = entry.type.hasPrefix(CustomizationMode.uiSlotPrefix)
        if isSlot != (mode == .ui) {
            throw BespokeError(
                .invalidRequest,
                isSlot ? "'\(entry.type)' is a UI slot: register it with mode 'ui'" : "mode 'ui' needs a UI slot type (ui.*), not an event type"
            )
        }
        let isPoint = entry.type.hasPrefix(ExtensionPoint.prefix)
        if isPoint != (mode == .sync) {
            throw BespokeError(
                .invalidRequest,
                isPoint
                    ? "'\(entry.type)' is an extension point: register it with mode 'sync'"
                    : "mode 'sync' needs an extension point type (ext.*)"
            )
        }
        if isPoint, index.customizations(tenant: tenant).contains(where: { $0.eventType == entry.type }) {
            throw BespokeError(.conflict, "the tenant already has an endpoint for '\(entry.type)'; change or delete that one")
        }
        let secret = WebhookSecret.generate()
        var customization = Customization(
            id: "cus_" + SecureRandom.hex(12), tenant: tenant, eventType: entry.type, mode: mode, url: url, order: 0,
            timeout: configuration.defaultTimeout, holdDeadline: configuration.defaultHoldDeadline, onDeadline: .resume,
            enabled: true, disabledReason: nil, secrets: [SigningSecret(secret: secret.text, expiresAt: nil)], createdAt: Date()
        )
        if isPoint {
            // An extension point fails closed and answers quickly unless the tenant says otherwise.
            customization.timeout = configuration.defaultExtensionDeadline
            customization.onDeadline = .cancel
        }
        settings.apply(to: &customization)
        try validate(customization)
        if customization.mode == .observe {
            // One attempt more than the retry schedule has delays: the first push.
            let policy = DeliveryPolicy(
                maxAttempts: configuration.retrySchedule.count + 1, initialBackoff: .seconds(1), maxBackoff: .seconds(1),
                ackTimeout: customization.timeout * 2 + .seconds(5)
            )
            _ = try await bus.createSubscription(
                tenant: tenant, name: customization.subscriptionName, types: [customization.eventType], policy: policy
            )
        }
        do {
            try await store.insertCustomization(customization)
        } catch {
            if customization.mode == .observe { try? await bus.deleteSubscription(tenant: tenant, name: customization.subscriptionName) }
            throw error
        }
        index.put(customization)
        logger.info(
            "customization registered",
            metadata: ["tenant": "\(tenant)", "customization": "\(customization.id)", "type": "\(customization.eventType)",
                       "mode": "\(customization.mode.rawValue)"]
        )
        return (customization, secret.text)
    }

    /// A customization of the tenant. - Throws: ``BespokeError`` `not_found`.
    public func customization(tenant: TenantID, id: String) throws(BespokeError) -> Customization {
        guard let found = index.customization(tenant: tenant, id: id) else { throw BespokeError.notFound("customization") }
        return found
    }

    public func customizations(tenant: TenantID) -> [Customization] {
        index.customizations(tenant: tenant)
    }

    /// Changes a registration. Enabling it again clears the reason the platform disabled it for.
    public func update(tenant: TenantID, id: String, _ changes: Changes) async throws -> Customization {
        var customization = try customization(tenant: tenant, id: id)
        changes.apply(to: &customization)
        try validate(customization)
        try await save(customization)
        return customization
    }

    /// Deletes a registration (an observer's undelivered pushes with it).
    public func delete(tenant: TenantID, id: String) async throws {
        let existing = try customization(tenant: tenant, id: id)
        guard try await store.deleteCustomization(tenant: tenant, id: id) else { throw BespokeError.notFound("customization") }
        index.remove(tenant: tenant, id: id)
        if existing.mode == .observe {
            try? await bus.deleteSubscription(tenant: tenant, name: existing.subscriptionName)
        }
    }

    /// Starts signing with a new secret, returned once; the current one keeps signing beside it
    /// for ``CustomizationConfiguration/secretOverlap``.
    public func rotateSecret(tenant: TenantID, id: String) async throws -> (Customization, secret: String) {
        var customization = try customization(tenant: tenant, id: id)
        let now = Date()
        let secret = WebhookSecret.generate()
        let kept = customization.activeSecrets(at: now).map {
            SigningSecret(secret: $0.secret, expiresAt: min($0.expiresAt ?? .distantFuture, now.addingTimeInterval(configuration.secretOverlap.seconds)))
        }
        customization.secrets = [SigningSecret(secret: secret.text, expiresAt: nil)] + kept
        try await save(customization)
        return (customization, secret.text)
    }

    /// A page of the customization's push attempts matching `query`, newest first.
    /// - Throws: ``BespokeError`` `not_found` when the tenant has no such customization.
    public func attempts(tenant: TenantID, id: String, matching query: AttemptQuery) async throws -> AttemptPage {
        _ = try customization(tenant: tenant, id: id)
        return try await store.deliveryAttempts(tenant: tenant, customization: id, matching: query)
    }

    /// The operational event type published, to the tenant's own log, when the platform
    /// disables one of its endpoints.
    public static let endpointDisabledType = "bespoke.customization.disabled"

    /// Disables a customization on the platform's initiative (410 Gone, persistent failure)
    /// and tells its tenant with an operational event.
    func disable(_ customization: Customization, reason: String) async {
        guard var current = index.customization(tenant: customization.tenant, id: customization.id), current.enabled else { return }
        current.enabled = false
        current.disabledReason = reason
        do {
            try await save(current)
            logger.warning(
                "endpoint disabled",
                metadata: ["tenant": "\(current.tenant)", "customization": "\(current.id)", "reason": "\(reason)"]
            )
            let event = CloudEvent(
                id: "disabled-\(current.id)-\(Int(Date().timeIntervalSince1970 * 1000))", source: "/bespoke/platform",
                type: Self.endpointDisabledType, subject: current.id,
                data: .object([
                    "customizationId": .string(current.id), "eventType": .string(current.eventType), "url": .string(current.url),
                    "reason": .string(reason),
                ])
            )
            _ = try await bus.publish(event, tenant: current.tenant, quota: .platform)
        } catch {
            logger.error("disabling an endpoint failed", metadata: ["customization": "\(current.id)", "error": "\(error)"])
        }
    }

    /// Records that a customization's pushes started failing (`since`) or succeed again (nil).
    func markFailing(_ customization: Customization, since: Date?) async {
        guard index.markFailing(tenant: customization.tenant, id: customization.id, since: since) != nil else { return }
        do {
            _ = try await store.setFailingSince(tenant: customization.tenant, id: customization.id, since: since)
        } catch {
            logger.warning("recording an endpoint's failures failed", metadata: ["customization": "\(customization.id)", "error": "\(error)"])
        }
    }

    // MARK: Recovery

    /// Pushes again what an endpoint missed since `since`: an observer's pushes that ran out of
    /// retries (its dead letters) from then on, and the events an interceptor holds that were
    /// held from then on. - Returns: how many pushes were started again.
    /// - Throws: ``BespokeError`` `not_found`.
    public func recover(tenant: TenantID, id: String, since: Date) async throws -> Int {
        let customization = try customization(tenant: tenant, id: id)
        switch customization.mode {
        case .observe:
            return try await bus.redrive(tenant: tenant, subscription: customization.subscriptionName, failedSince: since)
        case .intercept:
            return try await bus.repushHeld(tenant: tenant, customization: id) { $0.createdAt >= since }
        case .ui, .sync:
            throw BespokeError(.invalidRequest, "a UI or synchronous extension is called while a request waits; it has nothing to recover")
        }
    }

    /// Pushes one message to the endpoint again, by the message id of its attempts
    /// (`webhook-id`): an observer's event whatever became of it while it is in the log (see
    /// `BusConfiguration.eventRetention`), or an event the interceptor still holds.
    /// - Throws: ``BespokeError`` `not_found`.
    public func replay(tenant: TenantID, id: String, messageID: String) async throws {
        let customization = try customization(tenant: tenant, id: id)
        let prefix = customization.id + "-"
        guard messageID.hasPrefix(prefix) else { throw BespokeError.notFound("message") }
        let rest = messageID.dropFirst(prefix.count)
        switch customization.mode {
        case .observe:
            guard let seq = Int64(rest) else { throw BespokeError.notFound("message") }
            try await bus.replay(tenant: tenant, subscription: customization.subscriptionName, eventSeq: seq)
        case .intercept:
            guard rest.hasPrefix("h"), let ticket = HoldTicket(String(rest.dropFirst())) else { throw BespokeError.notFound("message") }
            let hold = try await bus.hold(tenant: tenant, id: ticket.id)
            guard hold.state == .held, hold.stage?.customization == id else { throw BespokeError.notFound("held event") }
            try await bus.repush(tenant: tenant, holdID: hold.id)
        case .ui, .sync:
            throw BespokeError.notFound("message")
        }
    }

    /// Deletes push attempts older than ``CustomizationConfiguration/attemptRetention``, in
    /// batches, and returns how many it deleted.
    @discardableResult
    public func deleteExpiredAttempts(now: Date = Date()) async -> Int {
        let cutoff = now.addingTimeInterval(-configuration.attemptRetention.seconds)
        var deleted = 0
        do {
            while true {
                let batch = try await store.deleteAttempts(madeBefore: cutoff, limit: Self.attemptDeletionBatch)
                deleted += batch
                if batch < Self.attemptDeletionBatch || Task.isCancelled { break }
            }
        } catch {
            logger.warning("deleting push attempts past their retention failed", metadata: ["error": "\(error)"])
        }
        if deleted > 0 { logger.info("push attempts past their retention deleted", metadata: ["count": "\(deleted)"]) }
        return deleted
    }

    /// Attempts deleted per transaction: small enough not to hold the bus's commits back long
    /// (as `EventBus`'s retention batches).
    static let attemptDeletionBatch = 250

    func recordAttempts(_ attempts: [DeliveryAttempt]) async {
        do {
            try await store.recordAttempts(attempts)
        } catch {
            logger.warning("recording delivery attempts failed", metadata: ["count": "\(attempts.count)", "error": "\(error)"])
        }
    }

    private func save(_ customization: Customization) async throws {
        guard try await store.updateCustomization(customization) else { throw BespokeError.notFound("customization") }
        index.put(customization)
    }

    /// The rate limits a registration may have, in pushes a second.
    static let rateLimits = 0.01...10_000.0

    private func validate(_ customization: Customization) throws(BespokeError) {
        try configuration.outbound.check(customization.url)
        if customization.mode == .ui || customization.mode == .sync {
            if customization.filter != nil {
                throw BespokeError(.invalidRequest, "a filter applies to observers and interceptors only, not to mode '\(customization.mode.rawValue)'")
            }
            if customization.rateLimit != nil {
                throw BespokeError(.invalidRequest, "a rate limit applies to observers and interceptors only, not to mode '\(customization.mode.rawValue)'")
            }
            if customization.maxAttempts != nil {
                throw BespokeError(.invalidRequest, "maxAttempts applies to observers and interceptors only, not to mode '\(customization.mode.rawValue)'")
            }
        }
        let attempts = 1...(configuration.retrySchedule.count + 1)
        if let maxAttempts = customization.maxAttempts, !attempts.contains(maxAttempts) {
            throw BespokeError(
                .invalidRequest, "maxAttempts must be between 1 and \(attempts.upperBound) (the first push and the retry schedule's)"
            )
        }
        if let rate = customization.rateLimit, !(Self.rateLimits.contains(rate)) {
            throw BespokeError(.invalidRequest, "rateLimit must be between 0.01 and 10000 pushes a second")
        }
        guard (-1_000_000...1_000_000).contains(customization.order) else {
            throw BespokeError(.invalidRequest, "order must be between -1000000 and 1000000")
        }
        guard customization.timeout >= .milliseconds(100), customization.timeout <= configuration.maxTimeout else {
            throw BespokeError(.invalidRequest, "timeoutMs must be between 100 and \(configuration.maxTimeout.wholeMilliseconds)")
        }
        if customization.mode == .sync {
            guard customization.timeout <= configuration.maxExtensionDeadline else {
                throw BespokeError(
                    .invalidRequest, "timeoutMs of a synchronous extension must be at most \(configuration.maxExtensionDeadline.wholeMilliseconds)"
                )
            }
            guard customization.onDeadline != .deadLetter else {
                throw BespokeError(.invalidRequest, "onDeadline of a synchronous extension is 'cancel' (fail closed) or 'resume' (fail open)")
            }
        }
        guard customization.holdDeadline >= .milliseconds(100), customization.holdDeadline <= configuration.maxHoldDeadline else {
            throw BespokeError(
                .invalidRequest, "holdDeadlineMs must be between 100 and \(configuration.maxHoldDeadline.wholeMilliseconds)"
            )
        }
    }
}
