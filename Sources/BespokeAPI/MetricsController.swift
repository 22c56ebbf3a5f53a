import Hummingbird
import NIOCore
import Prometheus

/// `GET /metrics`: the platform's metrics (every swift-metrics counter, timer and recorder of
/// the bus, the gateway, the pushes and the shop) in the Prometheus text format.
///
/// Only the operator may read them, with the admin token (Prometheus sends it with
/// `authorization: {credentials: ...}` in the scrape configuration): the series are labelled
/// by tenant, and one tenant must not learn of another.
struct MetricsController {
    let registry: PrometheusCollectorRegistry

    func addRoutes(to group: RouterGroup<AdminRequestContext>) {
        group.get { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
    }
}
