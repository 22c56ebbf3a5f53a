import BespokeServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Metrics endpoint")
struct MetricsAPITests {
    /// The value of the series `line` (`name{labels}`) in a Prometheus text body, if present.
    private func value(of series: String, in body: String) -> Double? {
        for line in body.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func theOperatorReadsPerTenantMetricsInThePrometheusFormat() async throws {
        // The registry is the process's (swift-metrics is bootstrapped once): this test's
        // tenant is its own, so its series count only what the test does.
        let fixture = try await APIFixture.make { $0.metrics = PrometheusExport.registry }
        try await fixture.test { client in
            let admin = fixture.adminToken
            let tenant = "metrics-" + UUID().uuidString.prefix(8).lowercased()
            let created = try await client.call(.post, "/v1/admin/tenants", token: admin, json: #"{"id":"\#(tenant)"}"#)
            let key = try #require((created.json["apiKey"] as? [String: Any])?["secret"] as? String)
            for id in ["m1", "m2", "m3"] {
                #expect(try await client.call(.post, "/v1/tenants/\(tenant)/events", token: key, json: cloudEvent(id)).status == .created)
            }
            // A duplicate is acknowledged but not published again.
            _ = try await client.call(.post, "/v1/tenants/\(tenant)/events", token: key, json: cloudEvent("m1"))

            let scraped = try await client.call(.get, "/metrics", token: admin)
            #expect(scraped.status == .ok)
            #expect(scraped.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(scraped.text.contains("# TYPE bespoke_bus_events_published_total counter"))
            #expect(value(of: #"bespoke_bus_events_published_total{tenant="\#(tenant)"}"#, in: scraped.text) == 3, "\(scraped.text)")
            #expect(value(of: #"bespoke_api_calls_total{tenant="\#(tenant)",caller="key"}"#, in: scraped.text) == 4)
            // Timers are histograms in seconds.
            #expect(scraped.text.contains("# TYPE bespoke_bus_commit_duration histogram"))
            // Requests per route, method and status (the registry is the process's: at least this test's).
            let route = #"hb_requests{http_route="/v1/tenants/{tenant}/events",http_request_method="POST",http_response_status_code="201"}"#
            #expect((value(of: route, in: scraped.text) ?? 0) >= 3, "\(scraped.text)")

            // Series name tenants: a tenant's key, or no credentials, read nothing.
            #expect(try await client.call(.get, "/metrics", token: key).status == .unauthorized)
            #expect(try await client.call(.get, "/metrics", token: nil).status == .unauthorized)
        }
    }

    @Test func withoutARegistryThereIsNoMetricsRoute() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let response = try await client.call(.get, "/metrics", token: fixture.adminToken)
            #expect(response.status == .notFound)
        }
    }
}
