public import BespokeCore
public import BespokeStorage
import Foundation

extension EventBus {
    /// Creates a durable subscription. It receives the tenant's events of matching types
    /// published from now on.
    /// - Throws: ``BespokeError`` `invalid_request` for a bad name or policy, `conflict` when
    ///   the tenant already has a subscription of that name.
    public func createSubscription(
        tenant: TenantID, name: String, types: [String], policy: DeliveryPolicy? = nil
    ) async throws -> Subscription {
        try ensureRunning()
        guard Subscription.isValidName(name) else {
            throw BespokeError(.invalidRequest, "subscription name must be 1-100 characters of letters, digits, '.', '_' and '-'")
        }
        guard types.count <= 100, types.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 256 }) else {
            throw BespokeError(.invalidRequest, "types must be at most 100 non-empty patterns of up to 256 characters")
        }
        let policy = policy ?? configuration.defaultPolicy
        try validate(policy)
        let subscription = try await store.createSubscription(
            NewSubscription(tenant: tenant, name: name, filter: EventTypeFilter(types), policy: policy), at: Date()
        )
        // The scheduler first, so a receive that finds the subscription in the index finds its queue.
        await scheduler.add(subscription)
        index.insert(subscription)
        return subscription
    }

    /// Deletes a subscription with its pending deliveries and dead letters.
    /// - Throws: ``BespokeError`` `not_found`.
    public func deleteSubscription(tenant: TenantID, name: String) async throws {
        let existing = index.subscription(tenant: tenant, name: name)
        guard try await store.deleteSubscription(tenant: tenant, name: name) else {
            throw BespokeError.notFound("subscription")
        }
        // By id: a subscription of the same name created meanwhile stays.
        if let existing {
            index.remove(existing)
            await scheduler.removeSubscription(existing.id)
        }
    }

    /// Drops everything the bus keeps in memory for a tenant: its subscriptions' queues and
    /// waiting receives, its custody deadlines and its publish quota. Called when the tenant is deleted, before
    /// its rows are purged, so nothing of it is delivered or decided on afterwards.
    public func forget(tenant: TenantID) async {
        for subscription in index.subscriptions(tenant: tenant) {
            index.remove(subscription)
            await scheduler.removeSubscription(subscription.id)
        }
        custody.forget(tenant)
        quota?.forget(tenant)
    }

    /// A subscription of `tenant`, from the in-memory index.
    /// - Throws: ``BespokeError`` `not_found`, also for another tenant's subscription.
    public func subscription(tenant: TenantID, name: String) throws(BespokeError) -> Subscription {
        guard let subscription = index.subscription(tenant: tenant, name: name) else {
            throw BespokeError.notFound("subscription")
        }
        return subscription
    }

    /// The subscriptions of `tenant`, by name.
    public func subscriptions(tenant: TenantID) -> [Subscription] {
        index.subscriptions(tenant: tenant)
    }

    /// How many deliveries a subscription has pending (in flight or waiting), counting every
    /// ack so far, persisted or not.
    public func pendingCount(tenant: TenantID, subscription name: String) async throws -> Int {
        let subscription = try subscription(tenant: tenant, name: name)
        return try await store.pendingCount(subscription, settledThrough: await scheduler.settledThrough(subscription.id))
    }

    private func validate(_ policy: DeliveryPolicy) throws(BespokeError) {
        guard (1...configuration.maxAttemptsLimit).contains(policy.maxAttempts) else {
            throw BespokeError(.invalidRequest, "maxAttempts must be between 1 and \(configuration.maxAttemptsLimit)")
        }
        guard policy.initialBackoff >= .zero, policy.maxBackoff >= policy.initialBackoff,
            policy.maxBackoff <= configuration.maxRetryDelay
        else {
            throw BespokeError(
                .invalidRequest,
                "backoff must be non-negative, maxBackoff at least initialBackoff and at most \(configuration.maxRetryDelay)"
            )
        }
        guard policy.ackTimeout >= .milliseconds(100), policy.ackTimeout <= configuration.maxAckTimeout else {
            throw BespokeError(.invalidRequest, "ackTimeout must be between 100 ms and \(configuration.maxAckTimeout)")
        }
    }
}
