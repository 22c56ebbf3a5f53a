import BespokeBus
import BespokeCore
import Foundation
import GRDB
import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Publishes the outbox to the bus, oldest first, and deletes what the bus confirmed.
///
/// A crash between a commit and its publish leaves the rows, published at the next start; a
/// crash between a publish and the delete publishes them again, which the bus stores once
/// (tenant + source + id are unique). Each tenant's events are published in one ordered batch
/// per turn, tenants side by side; a tenant whose publish fails waits a little and does not
/// hold back the others.
public final class OutboxRelay: Service {
    let database: ShopDatabase
    let bus: EventBus
    let configuration: ShopConfiguration
    let logger: Logger
    /// Called before a tenant's first publish in this process: makes sure the shop's
    /// subscriptions of that tenant exist, so none of its events is published unseen.
    let prepareTenant: @Sendable (TenantID) async throws -> Void
    private let signal = WakeSignal()
    private let prepared = Mutex<Set<TenantID>>([])
    private let backingOff = Mutex<[TenantID: ContinuousClock.Instant]>([:])

    init(
        database: ShopDatabase, bus: EventBus, configuration: ShopConfiguration, logger: Logger,
        prepareTenant: @escaping @Sendable (TenantID) async throws -> Void
    ) {
        self.database = database
        self.bus = bus
        self.configuration = configuration
        self.logger = logger
        self.prepareTenant = prepareTenant
    }

    /// Asks for a turn soon: called after every commit that wrote to the outbox.
    public func wake() { signal.signal() }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let published = (try? await self.relayPending()) ?? 0
                if published == 0 { await self.signal.wait(upTo: self.configuration.outboxPollInterval) }
            }
        }
        // What the last turns left is published at the next start.
        logger.info("outbox relay stopped")
    }

    /// One turn: publishes up to ``ShopConfiguration/outboxBatch`` events.
    /// - Returns: how many were published.
    @discardableResult
    public func relayPending() async throws -> Int {
        let now = ContinuousClock.now
        let skipped = backingOff.withLock { waits in
            waits = waits.filter { $0.value > now }
            return Set(waits.keys.map(\.rawValue))
        }
        let rows = try await database.pool.read { [batch = configuration.outboxBatch] db in
            let waiting = Array(skipped)
            let filter = waiting.isEmpty ? "" : "WHERE tenant_id NOT IN (\(waiting.map { _ in "?" }.joined(separator: ",")))"
            return try Row.fetchAll(
                db, sql: "SELECT seq, tenant_id, envelope FROM outbox \(filter) ORDER BY seq LIMIT ?",
                arguments: StatementArguments(waiting.map { $0 as any DatabaseValueConvertible } + [batch])
            ).map { (seq: $0["seq"] as Int64, tenant: TenantID(trusted: $0["tenant_id"]), envelope: $0["envelope"] as Data) }
        }
        guard !rows.isEmpty else { return 0 }
        var byTenant: [TenantID: [(seq: Int64, envelope: Data)]] = [:]
        for row in rows { byTenant[row.tenant, default: []].append((row.seq, row.envelope)) }
        let done = await withTaskGroup(of: [Int64].self) { group in
            for (tenant, pending) in byTenant {
                group.addTask {
                    do {
                        try await self.publish(pending, tenant: tenant)
                        return pending.map(\.seq)
                    } catch {
                        self.backingOff.withLock { $0[tenant] = .now + .milliseconds(500) }
                        self.logger.warning(
                            "publishing the outbox failed; retrying",
                            metadata: ["tenant": "\(tenant)", "events": "\(pending.count)", "error": "\(error)"]
                        )
                        return []
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        guard !done.isEmpty else { return 0 }
        try await database.pool.write { db in
            for chunk in stride(from: 0, to: done.count, by: 500) {
                let seqs = done[chunk..<min(chunk + 500, done.count)]
                try db.execute(
                    sql: "DELETE FROM outbox WHERE seq IN (\(seqs.map { _ in "?" }.joined(separator: ",")))",
                    arguments: StatementArguments(Array(seqs))
                )
            }
        }
        Counter(label: "bespoke_shop_outbox_published_total").increment(by: done.count)
        return done.count
    }

    private func publish(_ pending: [(seq: Int64, envelope: Data)], tenant: TenantID) async throws {
        if !prepared.withLock({ $0.contains(tenant) }) {
            try await prepareTenant(tenant)
            prepared.withLock { _ = $0.insert(tenant) }
        }
        let decoder = JSONDecoder()
        let events = try pending.map { try decoder.decode(CloudEvent.self, from: $0.envelope) }
        for chunk in stride(from: 0, to: events.count, by: bus.configuration.limits.maxBatchEvents) {
            _ = try await bus.publish(Array(events[chunk..<min(chunk + bus.configuration.limits.maxBatchEvents, events.count)]), tenant: tenant)
        }
    }

    /// Forgets that a tenant was prepared (it was deleted).
    func forget(_ tenant: TenantID) {
        prepared.withLock { _ = $0.remove(tenant) }
    }
}
