import BespokeBus
import BespokeCore
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the shop services' consumers: for every tenant that runs the shop, one consumer per
/// service on that tenant's subscription. Tenants opening their shop are picked up at once in
/// this process and within two seconds from another.
final class ShopConsumers: Service {
    let shop: Shop
    /// The tenants whose consumers run.
    private let running = Mutex<Set<TenantID>>([])

    init(shop: Shop) {
        self.shop = shop
    }

    func run() async throws {
        let shop = self.shop
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    do {
                        for settings in try await shop.tenants() where self.running.withLock({ $0.insert(settings.tenant).inserted }) {
                            group.addTask {
                                await self.consume(settings.tenant)
                                self.running.withLock { _ = $0.remove(settings.tenant) }
                            }
                        }
                    } catch {
                        shop.logger.error("listing the shop's tenants failed", metadata: ["error": "\(error)"])
                    }
                    await shop.tenantsChanged.wait(upTo: .seconds(2))
                }
            }
        }
    }

    /// Consumes a tenant's events until the shop stops or the tenant's subscriptions go (the
    /// tenant was deleted); after a failure the supervisor starts it again.
    private func consume(_ tenant: TenantID) async {
        let shop = self.shop
        do {
            try await Shop.ensureSubscriptions(bus: shop.bus, tenant: tenant)
            try await withThrowingDiscardingTaskGroup { group in
                for service in ShopService.allCases {
                    group.addTask {
                        try await shop.bus.consume(
                            tenant: tenant, subscription: service.subscriptionName, concurrency: shop.configuration.consumerConcurrency
                        ) { delivery in
                            try await shop.handle(delivery, by: service)
                        }
                    }
                }
            }
        } catch {
            guard !Task.isCancelled else { return }
            shop.logger.warning("the shop's consumers of a tenant stopped", metadata: ["tenant": "\(tenant)", "error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
