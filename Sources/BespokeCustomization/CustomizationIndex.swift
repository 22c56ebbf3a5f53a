public import BespokeBus
public import BespokeCore
public import BespokeStorage
import Foundation
import Synchronization

/// The in-memory index of the event catalog, every tenant's customizations and the suspended
/// tenants: the bus asks it, on every event it admits, whether and where the event is
/// intercepted. ``TenantManager`` changes it with the store; ``CustomizationIndexSync`` reloads
/// it when another process changed the store. Nothing on the event path reads the store.
public final class CustomizationIndex: InterceptionPolicy {
    private struct Snapshot {
        var catalog: [String: CatalogEntry] = [:]
        var byTenant: [TenantID: [Customization]] = [:] {
            didSet { deriveInterceptors() }
        }
        var suspended: Set<TenantID> = [] {
            didSet { deriveInterceptors() }
        }
        /// The store's configuration version this snapshot was loaded at.
        var version: Int64 = -1
        /// Counts the changes made here since start-up: a load that raced one is dropped
        /// (and made again at the next poll) rather than undo it.
        var localChanges = 0
        /// Derived from `byTenant` and `suspended` on every (rare) change, so the per-event
        /// questions are dictionary lookups: each active tenant's enabled interceptors by
        /// event type, in order, with their filters.
        private(set) var interceptors: [TenantID: [String: [(interceptor: Interceptor, filter: EventFilter?)]]] = [:]

        private mutating func deriveInterceptors() {
            interceptors = byTenant.compactMapValues { customizations in
                let enabled = customizations.filter { $0.enabled && $0.mode == .intercept }
                guard !enabled.isEmpty else { return nil }
                return Dictionary(grouping: enabled, by: \.eventType).mapValues { sameType in
                    sameType.sorted { ($0.order, $0.createdAt, $0.id) < ($1.order, $1.createdAt, $1.id) }.map {
                        (Interceptor(customization: $0.id, holdDeadline: $0.holdDeadline, onDeadline: $0.onDeadline), $0.filter)
                    }
                }
            }
            for tenant in suspended { interceptors[tenant] = nil }
        }
    }

    private let snapshot = Mutex(Snapshot())

    public init() {}

    /// Replaces the whole index with what the store holds.
    public func load(from store: any CustomizationStore) async throws {
        _ = try await reload(from: store, force: true)
    }

    /// Reloads the index when the store's configuration version moved since the last load.
    /// - Returns: whether it reloaded.
    @discardableResult
    public func reload(from store: any CustomizationStore, force: Bool = false) async throws -> Bool {
        let (loadedVersion, changesBefore) = snapshot.withLock { ($0.version, $0.localChanges) }
        if !force, try await store.configurationVersion() == loadedVersion { return false }
        let loaded = try await store.configurationSnapshot()
        return snapshot.withLock { snapshot in
            guard force || snapshot.localChanges == changesBefore else { return false }
            snapshot.catalog = Dictionary(uniqueKeysWithValues: loaded.catalog.map { ($0.type, $0) })
            snapshot.byTenant = Dictionary(grouping: loaded.customizations, by: \.tenant)
            snapshot.suspended = loaded.suspendedTenants
            snapshot.version = loaded.version
            return true
        }
    }

    private func change(_ body: (inout Snapshot) -> Void) {
        snapshot.withLock { snapshot in
            body(&snapshot)
            snapshot.localChanges += 1
        }
    }

    // MARK: Catalog

    public func catalogEntry(_ type: String) -> CatalogEntry? {
        snapshot.withLock { $0.catalog[type] }
    }

    public func catalog() -> [CatalogEntry] {
        snapshot.withLock { $0.catalog.values.sorted { $0.type < $1.type } }
    }

    func put(_ entry: CatalogEntry) {
        change { $0.catalog[entry.type] = entry }
    }

    func removeCatalogEntry(_ type: String) {
        change { _ = $0.catalog.removeValue(forKey: type) }
    }

    // MARK: Tenants

    /// Whether the tenant is suspended: its credentials are refused, its endpoints get no
    /// pushes and its events are not intercepted.
    public func isSuspended(_ tenant: TenantID) -> Bool {
        snapshot.withLock { $0.suspended.contains(tenant) }
    }

    func setSuspended(_ tenant: TenantID, _ suspended: Bool) {
        change { snapshot in
            if suspended { snapshot.suspended.insert(tenant) } else { snapshot.suspended.remove(tenant) }
        }
    }

    /// Forgets a deleted tenant's customizations.
    func removeTenant(_ tenant: TenantID) {
        change { snapshot in
            snapshot.byTenant[tenant] = nil
            snapshot.suspended.remove(tenant)
        }
    }

    // MARK: Customizations

    public func customization(tenant: TenantID, id: String) -> Customization? {
        snapshot.withLock { $0.byTenant[tenant]?.first { $0.id == id } }
    }

    /// The registration as it is now, when it is enabled and its tenant is not suspended: one
    /// the dispatcher may push to. Read in one look, so the two conditions agree.
    public func pushable(tenant: TenantID, id: String) -> Customization? {
        snapshot.withLock { snapshot in
            guard !snapshot.suspended.contains(tenant), let found = snapshot.byTenant[tenant]?.first(where: { $0.id == id }), found.enabled
            else { return nil }
            return found
        }
    }

    public func customizations(tenant: TenantID) -> [Customization] {
        snapshot.withLock { $0.byTenant[tenant] ?? [] }
    }

    /// Every enabled observer of every tenant that is not suspended.
    public func enabledObservers() -> [Customization] {
        snapshot.withLock { snapshot in
            snapshot.byTenant.filter { !snapshot.suspended.contains($0.key) }.values.flatMap {
                $0.filter { $0.enabled && $0.mode == .observe }
            }
        }
    }

    func put(_ customization: Customization) {
        change { snapshot in
            var list = snapshot.byTenant[customization.tenant] ?? []
            if let index = list.firstIndex(where: { $0.id == customization.id }) {
                list[index] = customization
            } else {
                list.append(customization)
            }
            snapshot.byTenant[customization.tenant] = list
        }
    }

    func remove(tenant: TenantID, id: String) {
        change { $0.byTenant[tenant]?.removeAll { $0.id == id } }
    }

    /// Sets since when a customization's pushes have all failed, when that changes its
    /// state (failing or not). - Returns: the customization as changed, or nil when nothing changed.
    func markFailing(tenant: TenantID, id: String, since: Date?) -> Customization? {
        snapshot.withLock { snapshot in
            guard let index = snapshot.byTenant[tenant]?.firstIndex(where: { $0.id == id }),
                var customization = snapshot.byTenant[tenant]?[index],
                (customization.failingSince == nil) != (since == nil)
            else { return nil }
            customization.failingSince = since
            snapshot.byTenant[tenant]?[index] = customization
            snapshot.localChanges += 1
            return customization
        }
    }

    // MARK: InterceptionPolicy

    public func hasInterceptors(tenant: TenantID) -> Bool {
        snapshot.withLock { $0.interceptors[tenant] != nil }
    }

    public func nextInterceptor(tenant: TenantID, type: String, passed: [String], event: () -> CloudEvent?) -> Interceptor? {
        // The candidates are read under the lock, the filters checked outside it.
        guard let candidates = snapshot.withLock({ $0.interceptors[tenant]?[type] }) else { return nil }
        // Only those after the last one the event passed, in order: one its filter turned away
        // earlier is behind the event, whatever the event has become since.
        let start = candidates.lastIndex { passed.contains($0.interceptor.customization) }.map { $0 + 1 } ?? 0
        var decoded: CloudEvent??
        for (interceptor, filter) in candidates[start...] where !passed.contains(interceptor.customization) {
            guard let filter else { return interceptor }
            if decoded == nil { decoded = .some(event()) }
            // An event that cannot be read for the filter is held rather than let past it.
            guard let event = decoded ?? nil else { return interceptor }
            if filter.matches(event) { return interceptor }
        }
        return nil
    }

    public func applyChanges(_ changes: [String: JSONValue], to event: CloudEvent) throws(BespokeError) -> CloudEvent {
        guard let entry = catalogEntry(event.type) else {
            throw BespokeError(.forbiddenChange, "'\(event.type)' is not in the event catalog, so none of its fields may change")
        }
        let forbidden = changes.keys.filter { !entry.mutableFields.contains($0) }.sorted()
        guard forbidden.isEmpty else {
            let allowed = entry.mutableFields.isEmpty ? "none" : entry.mutableFields.joined(separator: ", ")
            throw BespokeError(
                .forbiddenChange,
                "\(forbidden.map { "'\($0)'" }.joined(separator: ", ")) of '\(event.type)' may not be changed (changeable: \(allowed))"
            )
        }
        guard case .object(var data)? = event.data else {
            throw BespokeError(.forbiddenChange, "the event's data is not an object, so none of its fields may change")
        }
        for (name, value) in changes { data[name] = value }
        // Entries are checked when put in the catalog, so the schema is valid here.
        let violations = (try? JSONSchema(entry.schema))?.violations(of: .object(data)) ?? []
        guard violations.isEmpty else {
            throw BespokeError(.schemaViolation, "the changed data does not match the schema of '\(event.type)': \(violations.joined(separator: "; "))")
        }
        var changed = event
        changed.data = .object(data)
        return changed
    }
}
