public import BespokeCore
public import BespokeIdentity
import Metrics
import Synchronization

/// Counts the calls into the tenant APIs per tenant and caller kind (user, service, key): the
/// paper's key metric of how much customizations cost the product. Also exported as
/// `bespoke_api_calls_total{tenant, caller}`.
public final class APICallCounter: Sendable {
    private struct Key: Hashable {
        let tenant: TenantID
        let kind: CallerKind
    }

    private let counts = Mutex<[Key: (count: Int, metric: Counter)]>([:])

    public init() {}

    public func record(tenant: TenantID, kind: CallerKind) {
        let metric = counts.withLock { counts -> Counter in
            let key = Key(tenant: tenant, kind: kind)
            if let index = counts.index(forKey: key) {
                // In place: one lookup, not a read and a write.
                counts.values[index].count += 1
                return counts.values[index].metric
            }
            let metric = Counter(label: "bespoke_api_calls_total", dimensions: [("tenant", tenant.rawValue), ("caller", kind.rawValue)])
            counts[key] = (1, metric)
            return metric
        }
        metric.increment()
    }

    /// The tenant's calls by caller kind since the process started.
    public func counts(tenant: TenantID) -> [CallerKind: Int] {
        counts.withLock { counts in
            var result: [CallerKind: Int] = [:]
            for (key, entry) in counts where key.tenant == tenant { result[key.kind] = entry.count }
            return result
        }
    }

    public func forget(_ tenant: TenantID) {
        counts.withLock { counts in counts = counts.filter { $0.key.tenant != tenant } }
    }
}
