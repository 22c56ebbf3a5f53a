import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Real process: configuration")
struct ConfigurationTests {
    @Test func helpDocumentsEveryOptionAndItsEnvironmentVariable() async throws {
        let help = try await runBespoke(["serve", "--help"])
        for variable in ["BESPOKE_HOST", "BESPOKE_PORT", "BESPOKE_DATA_DIR", "BESPOKE_DURABILITY", "BESPOKE_MAX_EVENT_BYTES",
            "BESPOKE_MAX_BODY_BYTES", "BESPOKE_LOG_LEVEL", "BESPOKE_ADMIN_TOKEN",
            "BESPOKE_ALLOW_LOOPBACK_ENDPOINTS", "BESPOKE_ALLOW_PRIVATE_ENDPOINTS", "BESPOKE_RATE_LIMIT", "BESPOKE_RATE_BURST",
            "BESPOKE_ISSUER", "BESPOKE_UPSTREAMS", "BESPOKE_UPSTREAM_TIMEOUT", "BESPOKE_GATEWAY_FAST_PATH", "BESPOKE_TENANT_PUBLISH_RATE",
            "BESPOKE_ATTEMPT_RETENTION_DAYS", "BESPOKE_EVENT_RETENTION_DAYS", "BESPOKE_INBOX_RETENTION_DAYS"]
        {
            #expect(help.contains(variable), "\(variable) is not documented")
        }
    }

    @Test(arguments: [
        (["serve", "--port", "70000"], [String: String](), "port must be between"),
        (["serve", "--durability", "sometimes"], [:], "durability must be"),
        (["serve", "--max-event-bytes", "1000"], [:], "at least 65536"),
        (["serve"], ["BESPOKE_PORT": "eighty"], "BESPOKE_PORT must be a whole number"),
        (["serve"], ["BESPOKE_LOG_LEVEL": "loud"], "unknown log level"),
        (["serve"], ["BESPOKE_ALLOW_LOOPBACK_ENDPOINTS": "maybe"], "must be true or false"),
        (["serve"], ["BESPOKE_ADMIN_TOKEN": "short"], "at least 16 characters"),
        (["serve", "--rate-limit", "0"], [:], "the rate limit must be above 0"),
        (["serve"], ["BESPOKE_RATE_BURST": "lots"], "BESPOKE_RATE_BURST must be a number"),
        (["serve", "--issuer", "ftp://x"], [:], "the issuer must be an http(s) URL"),
        (["serve", "--upstream", "shop"], [:], "an upstream is NAME=URL"),
        (["serve"], ["BESPOKE_UPSTREAMS": "a b=http://x"], "an upstream is NAME=URL"),
        (["serve", "--upstream", "events=http://127.0.0.1:9"], [:], "'events' is one of the platform's own routes"),
        (["serve", "--upstream-timeout", "0"], [:], "the upstream timeout must be above 0"),
        (["serve"], ["BESPOKE_TENANT_PUBLISH_RATE": "-5"], "the tenant publish rate must be 0 (no limit) or at least 1"),
        (["serve"], ["BESPOKE_GATEWAY_FAST_PATH": "often"], "BESPOKE_GATEWAY_FAST_PATH must be true or false"),
        (["serve", "--attempt-retention-days", "0"], [:], "the attempt retention must be above 0 and at most 3650 days"),
        (["serve"], ["BESPOKE_ATTEMPT_RETENTION_DAYS": "forever"], "BESPOKE_ATTEMPT_RETENTION_DAYS must be a number"),
        (["serve"], ["BESPOKE_EVENT_RETENTION_DAYS": "-1"], "the event retention must be 0 (keep every event) to 36500 days"),
        (["serve", "--inbox-retention-days", "1.5"], [:], "the inbox retention must be 2 to 3650 days"),
        (["serve"], ["BESPOKE_INBOX_RETENTION_DAYS": "a month"], "BESPOKE_INBOX_RETENTION_DAYS must be a number"),
    ])
    func badConfigurationFailsFastWithAClearMessage(arguments: [String], environment: [String: String], message: String) throws {
        let directory = try temporaryDirectory()
        let (status, output) = try runBespokeWithStatus(arguments + ["--data-dir", directory], environment: environment)
        #expect(status != 0)
        #expect(output.contains(message), "output: \(output)")
    }

    @Test func environmentVariablesOverrideDefaults() async throws {
        let directory = try temporaryDirectory()
        let key = try await createTenant("acme", dataDirectory: directory)
        let server = try await ServerProcess.start(
            dataDirectory: directory,
            environment: [
                "BESPOKE_MAX_EVENT_BYTES": "200000", "BESPOKE_ADMIN_TOKEN": "env-admin-token-123456",
                // Accepted (the server starts); their effects are tested where they act.
                "BESPOKE_TENANT_PUBLISH_RATE": "0", "BESPOKE_UPSTREAM_TIMEOUT": "2.5", "BESPOKE_GATEWAY_FAST_PATH": "false",
                "BESPOKE_ATTEMPT_RETENTION_DAYS": "7", "BESPOKE_EVENT_RETENTION_DAYS": "0",
                "BESPOKE_INBOX_RETENTION_DAYS": "2",
            ]
        )
        let pad = String(repeating: "x", count: 100_000)
        let event = #"{"specversion":"1.0","id":"big","source":"/t","type":"T","data":{"pad":"\#(pad)"}}"#
        let client = JSONClient(key: key)
        #expect(try await client.send(.POST, "\(server.baseURL)/v1/tenants/acme/events", json: event).status == 201)
        let admin = JSONClient(key: "env-admin-token-123456")
        #expect(try await admin.send(.GET, "\(server.baseURL)/v1/admin/tenants").status == 200)
        // `serve` exports its metrics, for the admin token.
        var scrape = HTTPClientRequest(url: "\(server.baseURL)/metrics")
        scrape.headers.add(name: "Authorization", value: "Bearer env-admin-token-123456")
        let metrics = try await HTTPClient.shared.execute(scrape, timeout: .seconds(10))
        #expect(metrics.status == .ok)
        let text = String(buffer: try await metrics.body.collect(upTo: 4 * 1024 * 1024))
        #expect(text.contains(#"bespoke_bus_events_published_total{tenant="acme"} 1"#), "\(text)")
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }
}
