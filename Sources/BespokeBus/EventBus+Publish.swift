public import BespokeCore
import BespokeStorage
import Foundation
import Metrics

/// What a publisher is told once its event is stored.
public struct PublishReceipt: Sendable, Equatable {
    /// The event's position in the log; nil while the event is in custody.
    public let sequence: Int64?
    /// The hold keeping the event in custody (intercepted, or queued behind an intercepted
    /// event of its partition key); nil when it went straight to the log.
    public let holdID: Int64?
    public let eventID: String
    public let storedAt: Date
    /// The same tenant + source + id had been published before; nothing new was stored.
    public let duplicate: Bool
}

extension EventBus {
    /// Publishes one event for `tenant` and returns once it is durably stored.
    public func publish(_ event: CloudEvent, tenant: TenantID, quota: QuotaUse = .tenant) async throws -> PublishReceipt {
        try await publish([event], tenant: tenant, quota: quota)[0]
    }

    /// Whether a publish counts against its tenant's ``PublishQuota``.
    public enum QuotaUse: Sendable {
        /// The tenant's own events (its API calls, its product's reactions to them): paced,
        /// then refused, past the quota.
        case tenant
        /// The platform's own operational events about the tenant (an endpoint disabled):
        /// never held back, as they are few and must not be lost.
        case platform
    }

    /// Publishes events for `tenant` in one commit, in order.
    ///
    /// The bus sets the `tenantid` extension and, when absent, `time`. An event of a type the
    /// tenant intercepts, or with the partition key of an event in custody, goes into custody
    /// instead of the log (see ``resume(tenant:ticket:changes:)``).
    /// - Throws: ``BespokeError`` `tenant_mismatch` when an event names another tenant,
    ///   `event_too_large`, `depth_exceeded` past ``BusConfiguration/maxDepth``, `rate_limited`
    ///   when the tenant's ``PublishQuota`` would make it wait too long, `unavailable` while
    ///   shutting down, or a storage error.
    public func publish(_ events: [CloudEvent], tenant: TenantID, quota use: QuotaUse = .tenant) async throws -> [PublishReceipt] {
        try ensureRunning()
        guard events.count <= configuration.limits.maxBatchEvents else {
            throw BespokeError(.payloadTooLarge, "batch has \(events.count) events; the limit is \(configuration.limits.maxBatchEvents)")
        }
        var writes = try stamp(events, tenant: tenant, at: Date())
        // Validated first, so a refused event costs no quota; a publish that was paced is
        // stamped again, so its time and custody are decided as of when it goes on.
        if use == .tenant, try await awaitQuota(tenant: tenant, events: events.count) {
            writes = try stamp(events, tenant: tenant, at: Date())
        }
        let results = try await committer.submit(writes, tenant: tenant)
        var receipts: [PublishReceipt] = []
        receipts.reserveCapacity(results.count)
        for (event, result) in zip(events, results) {
            switch result {
            case .published(let seq, let storedAt, let duplicate):
                receipts.append(PublishReceipt(sequence: seq, holdID: nil, eventID: event.id, storedAt: storedAt, duplicate: duplicate))
            case .held(let hold, let duplicate):
                receipts.append(PublishReceipt(sequence: nil, holdID: hold.id, eventID: event.id, storedAt: hold.createdAt, duplicate: duplicate))
            default:
                throw BespokeError(.storageFailure, "store returned no receipt for event '\(event.id)'")
            }
        }
        publishedCounters[tenant.rawValue].increment(by: receipts.count { !$0.duplicate })
        return receipts
    }

    /// The writes that store `events` for `tenant` as of `date`: `tenantid` and a missing
    /// `time` set, each validated (tenant, size, depth), custody decided from memory.
    private func stamp(_ events: [CloudEvent], tenant: TenantID, at date: Date) throws -> [BusWrite] {
        let now = RFC3339.format(date)
        let custodyChecks = interception?.hasInterceptors(tenant: tenant) == true || custody.mayHaveCustody(tenant)
        var writes: [BusWrite] = []
        writes.reserveCapacity(events.count)
        for var event in events {
            if let named = event.tenantID, named != tenant.rawValue {
                throw BespokeError(.tenantMismatch, "event '\(event.id)' names tenant '\(named)', not the caller's tenant")
            }
            event.tenantID = tenant.rawValue
            if event.time == nil { event.time = now }
            let stored = EventToStore(event, tenant: tenant)
            guard stored.envelope.count <= configuration.limits.maxEventBytes else {
                throw BespokeError(
                    .eventTooLarge,
                    "event '\(event.id)' is \(stored.envelope.count) bytes; the limit is \(configuration.limits.maxEventBytes)"
                )
            }
            if let depth = event.depth, depth > configuration.maxDepth {
                throw BespokeError(
                    .depthExceeded,
                    "event '\(event.id)' is at reaction depth \(depth); the limit is \(configuration.maxDepth) (a loop of customizations?)"
                )
            }
            if custodyChecks {
                let stage = interception?.nextInterceptor(tenant: tenant, type: event.type, passed: [], event: { event }).map { $0.stage(from: date) }
                writes.append(.admit(stored, intercept: stage))
            } else {
                writes.append(.publish(stored))
            }
        }
        return writes
    }

    /// Paces a publisher over its tenant's quota, or refuses it past the quota's wait.
    /// - Returns: whether the publisher waited.
    private func awaitQuota(tenant: TenantID, events: Int) async throws -> Bool {
        guard let quota, let maxWait = configuration.publishQuota?.maxWait, events > 0 else { return false }
        switch quota.reserve(tenant, tokens: Double(events), maxWait: maxWait) {
        case .granted:
            return false
        case .after(let wait):
            Counter(label: "bespoke_bus_publishes_paced_total", dimensions: [("tenant", tenant.rawValue)]).increment()
            do {
                try await Task.sleep(for: wait)
            } catch {
                // Nothing is stored: the tokens taken ahead go back.
                quota.refund(tenant, tokens: Double(events))
                throw BespokeError(.unavailable, "the publish was cancelled while it waited for the tenant's quota")
            }
            try ensureRunning()
            return true
        case .refused(let retryAfter):
            Counter(label: "bespoke_bus_publishes_refused_total", dimensions: [("tenant", tenant.rawValue)]).increment()
            let seconds = max(1, Int(retryAfter.seconds.rounded(.up)))
            let limit = quota.limit(of: tenant)
            throw BespokeError(
                .rateLimited,
                "tenant '\(tenant)' publishes faster than its quota of \(Self.format(limit.rate)) events/s "
                    + "(\(Self.format(limit.burst)) at once); retry in \(seconds) s",
                retryAfterSeconds: seconds
            )
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
