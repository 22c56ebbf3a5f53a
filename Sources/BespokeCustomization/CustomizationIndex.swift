public import BespokeBus
public import BespokeCore
public import BespokeStorage
import Synchronization

/// The in-memory index of the event catalog and every tenant's customizations: the bus asks it,
/// on every event it admits, whether and where the event is intercepted. It is loaded from the
/// store at start-up and changed with the store by ``TenantManager``; nothing on the event path
/// reads the store.
public final class CustomizationIndex: InterceptionPolicy {
    private struct Snapshot {
        var catalog: [String: CatalogEntry] = [:]
        var byTenant: [TenantID: [Customization]] = [:] {
            didSet { interceptors = Self.interceptors(of: byTenant) }
        }
        /// Derived from `byTenant` on every (rare) change, so the per-event questions are
        /// dictionary lookups: each tenant's enabled interceptors by event type, in order.
        private(set) var interceptors: [TenantID: [String: [Interceptor]]] = [:]

        private static func interceptors(of byTenant: [TenantID: [Customization]]) -> [TenantID: [String: [Interceptor]]] {
            byTenant.compactMapValues { customizations in
                let enabled = customizations.filter { $0.enabled && $0.mode == .intercept }
                guard !enabled.isEmpty else { return nil }
                return Dictionary(grouping: enabled, by: \.eventType).mapValues { sameType in
                    sameType.sorted { ($0.order, $0.createdAt, $0.id) < ($1.order, $1.createdAt, $1.id) }.map {
                        Interceptor(customization: $0.id, holdDeadline: $0.holdDeadline, onDeadline: $0.onDeadline)
                    }
                }
            }
        }
    }

    private let snapshot = Mutex(Snapshot())

    public init() {}

    /// Replaces the whole index with what the store holds.
    public func load(from store: any CatalogStore & CustomizationStore) async throws {
        let catalog = try await store.catalogEntries()
        let customizations = try await store.allCustomizations()
        snapshot.withLock { snapshot in
            snapshot.catalog = Dictionary(uniqueKeysWithValues: catalog.map { ($0.type, $0) })
            snapshot.byTenant = Dictionary(grouping: customizations, by: \.tenant)
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
        snapshot.withLock { $0.catalog[entry.type] = entry }
    }

    func removeCatalogEntry(_ type: String) {
        _ = snapshot.withLock { $0.catalog.removeValue(forKey: type) }
    }

    // MARK: Customizations

    public func customization(tenant: TenantID, id: String) -> Customization? {
        snapshot.withLock { $0.byTenant[tenant]?.first { $0.id == id } }
    }

    public func customizations(tenant: TenantID) -> [Customization] {
        snapshot.withLock { $0.byTenant[tenant] ?? [] }
    }

    /// Every enabled observer of every tenant.
    public func enabledObservers() -> [Customization] {
        snapshot.withLock { $0.byTenant.values.flatMap { $0.filter { $0.enabled && $0.mode == .observe } } }
    }

    func put(_ customization: Customization) {
        snapshot.withLock { snapshot in
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
        snapshot.withLock { $0.byTenant[tenant]?.removeAll { $0.id == id } }
    }

    // MARK: InterceptionPolicy

    public func hasInterceptors(tenant: TenantID) -> Bool {
        snapshot.withLock { $0.interceptors[tenant] != nil }
    }

    public func nextInterceptor(tenant: TenantID, type: String, passed: [String]) -> Interceptor? {
        snapshot.withLock { $0.interceptors[tenant]?[type]?.first { !passed.contains($0.customization) } }
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
