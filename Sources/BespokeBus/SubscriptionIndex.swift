import BespokeCore
import BespokeStorage
import Synchronization

/// The in-memory index of subscriptions by tenant and name, kept in step with the store by the
/// bus, so that API calls resolve a subscription without a database read.
final class SubscriptionIndex: Sendable {
    private struct State {
        var byTenant: [TenantID: [String: Subscription]] = [:]
        var byID: [SubscriptionID: Subscription] = [:]
    }

    private let state = Mutex(State())

    func insert(_ subscription: Subscription) {
        state.withLock { state in
            state.byTenant[subscription.tenant, default: [:]][subscription.name] = subscription
            state.byID[subscription.id] = subscription
        }
    }

    /// Removes this subscription, and not another that took its name since.
    func remove(_ subscription: Subscription) {
        state.withLock { state in
            state.byID[subscription.id] = nil
            if state.byTenant[subscription.tenant]?[subscription.name]?.id == subscription.id {
                state.byTenant[subscription.tenant]?[subscription.name] = nil
            }
        }
    }

    func subscription(tenant: TenantID, name: String) -> Subscription? {
        state.withLock { $0.byTenant[tenant]?[name] }
    }

    func subscription(_ id: SubscriptionID) -> Subscription? {
        state.withLock { $0.byID[id] }
    }

    func subscriptions(tenant: TenantID) -> [Subscription] {
        state.withLock { state in
            (state.byTenant[tenant].map { Array($0.values) } ?? []).sorted { $0.name < $1.name }
        }
    }
}
