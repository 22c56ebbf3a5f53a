import Metrics
public import Prometheus

/// The process's metrics in the Prometheus format.
public enum PrometheusExport {
    /// The registry every swift-metrics counter, timer and recorder of the process reports to:
    /// swift-metrics is bootstrapped with it the first time it is read, which may happen once
    /// per process (swift-metrics allows one bootstrap), so `serve` and `demo` read it and
    /// nothing else bootstraps.
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}
