import BespokeCore
import BespokeServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The gateway in front of the tenant APIs: per-tenant rate limits, request ids, trace context
/// and API call counts.
@Suite("Gateway: rate limits, request ids, tracing, call counts")
struct GatewayTests {
    @Test func aTenantAtTenTimesItsLimitIsThrottledWhileAnotherIsNot() async throws {
        let fixture = try await APIFixture.make { configuration in
            configuration.gateway.rateLimit = 5
            configuration.gateway.rateBurst = 5
        }
        try await fixture.test { client in
            // Acme fires 50 calls at once: about its burst passes, the rest get 429 with Retry-After.
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?, String?).self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        let response = try await client.call(.get, "/v1/tenants/acme/subscriptions", token: fixture.acmeKey)
                        return (response.status, response.headers[.retryAfter], response.errorCode)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let passed = statuses.filter { $0.0 == .ok }.count
            let limited = statuses.filter { $0.0 == .tooManyRequests }
            #expect((5...7).contains(passed), "passed \(passed)")
            #expect(limited.count == 50 - passed)
            #expect(limited.allSatisfy { Int($0.1 ?? "") ?? 0 >= 1 && $0.2 == "rate_limited" })

            // Globex, meanwhile, gets every one of its calls through.
            for _ in 0..<5 {
                let response = try await client.call(.get, "/v1/tenants/globex/subscriptions", token: fixture.globexKey)
                #expect(response.status == .ok)
            }
        }
    }

    @Test func requestIdsAndTraceContextAreKeptOrMade() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
            let given = try await client.execute(
                uri: "/v1/tenants/acme/subscriptions", method: .get,
                headers: [
                    .authorization: "Bearer \(fixture.acmeKey)", .init("X-Request-Id")!: "order-checkout-42",
                    .init("traceparent")!: "00-\(traceID)-00f067aa0ba902b7-01",
                ]
            )
            #expect(given.headers[.init("X-Request-Id")!] == "order-checkout-42")
            let hop = try #require(given.headers[.init("traceparent")!].flatMap(TraceParent.init))
            #expect(hop.traceID == traceID)
            #expect(hop.parentID != "00f067aa0ba902b7")

            // A malformed id is replaced; an error response carries the ids too.
            let made = try await client.execute(
                uri: "/v1/tenants/acme/subscriptions", method: .get, headers: [.init("X-Request-Id")!: "bad id with spaces"]
            )
            #expect(made.status == .unauthorized)
            let id = try #require(made.headers[.init("X-Request-Id")!])
            #expect(id.hasPrefix("req_"))
            #expect(made.headers[.init("traceparent")!].flatMap(TraceParent.init) != nil)
        }
    }

    @Test func apiCallsAreCountedPerTenantAndCallerKind() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let service = try await client.createClient(fixture, tenant: "acme", scopes: ["events:consume", "usage"])
            let token = try #require(try await client.clientCredentials(service).json["access_token"] as? String)
            for _ in 0..<3 {
                #expect(try await client.call(.get, "/v1/tenants/acme/subscriptions", token: token).status == .ok)
            }
            let usage = try await client.call(.get, "/v1/tenants/acme/usage", token: token)
            let calls = try #require(usage.json["apiCalls"] as? [String: Int])
            // Three by the service, the usage call itself too; the key created the client.
            #expect(calls["service"] == 4)
            #expect(calls["key"] == 1)
            #expect(calls["user"] == 0)
            let globex = try await client.call(.get, "/v1/tenants/globex/usage", token: fixture.globexKey)
            #expect((globex.json["apiCalls"] as? [String: Int])?["service"] == 0)
        }
    }
}

/// Routing to a service that runs as a separate HTTP server.
@Suite("Gateway: upstream routing")
struct UpstreamRoutingTests {
    @Test func callsGoUpstreamWithTheCallerButNotItsCredentials() async throws {
        // The upstream echoes what it was told.
        let router = Router()
        router.post("v1/tenants/:tenant/echo/**") { request, _ -> String in
            var request = request
            let body = try await request.collectBody(upTo: 1024)
            let seen: [String: String] = [
                "path": request.uri.description, "tenant": request.headers[.init("Bespoke-Tenant")!] ?? "",
                "kind": request.headers[.init("Bespoke-Caller-Kind")!] ?? "", "subject": request.headers[.init("Bespoke-Subject")!] ?? "",
                "authorization": request.headers[.authorization] ?? "", "requestId": request.headers[.init("X-Request-Id")!] ?? "",
                "body": String(buffer: body),
            ]
            return String(decoding: try JSONSerialization.data(withJSONObject: seen), as: UTF8.self)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let upstream = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }
        )
        let server = Task { try await upstream.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        var upstreamPort = 0
        for await port in ports { upstreamPort = port; break }

        let fixture = try await APIFixture.make { $0.gateway.upstreams = ["echo": "http://127.0.0.1:\(upstreamPort)"] }
        try await fixture.test(.live) { client in
            let service = try await client.createClient(fixture, tenant: "acme", scopes: ["echo"])
            let token = try #require(try await client.clientCredentials(service).json["access_token"] as? String)
            let response = try await client.execute(
                uri: "/v1/tenants/acme/echo/things?x=1", method: .post,
                headers: [.authorization: "Bearer \(token)", .init("X-Request-Id")!: "rid-7"], body: ByteBuffer(string: "ping")
            )
            #expect(response.status == .ok, "\(response.text)")
            let seen = response.json
            #expect(seen["path"] as? String == "/v1/tenants/acme/echo/things?x=1")
            #expect(seen["tenant"] as? String == "acme")
            #expect(seen["kind"] as? String == "service")
            #expect(seen["subject"] as? String == service.id)
            #expect(seen["authorization"] as? String == "")
            #expect(seen["requestId"] as? String == "rid-7")
            #expect(seen["body"] as? String == "ping")
            // The route needs the scope named after the upstream, and the caller's own tenant.
            let other = try await client.createClient(fixture, tenant: "acme", scopes: ["events:publish"])
            let otherToken = try #require(try await client.clientCredentials(other).json["access_token"] as? String)
            #expect(try await client.call(.post, "/v1/tenants/acme/echo/things", token: otherToken).status == .forbidden)
            #expect(try await client.call(.post, "/v1/tenants/globex/echo/things", token: token).status == .notFound)
        }
    }
}
