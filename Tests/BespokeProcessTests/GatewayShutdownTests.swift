import AsyncHTTPClient
import BespokeTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Real process: the gateway at shutdown", .serialized)
struct GatewayShutdownTests {
    /// An upstream service in this process: `/ping` answers at once, `/slow` after `delay`;
    /// `arrived` counts the slow calls that reached it.
    private static func startUpstream(delay: Duration, arrived: Locked<Int>) async throws -> (port: Int, task: Task<Void, any Error>) {
        let router = Router()
        router.get("**") { request, _ -> String in
            if request.uri.path.hasSuffix("/slow") {
                arrived.withLock { $0 += 1 }
                try await Task.sleep(for: delay)
                return "slow answer"
            }
            return "pong"
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "slow-upstream")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger
        )
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        for await port in ports { return (port, task) }
        throw ProcessTestError("the upstream did not start")
    }

    private static func get(_ url: String, key: String) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1024 * 1024)))
    }

    /// SIGTERM while upstream calls are being answered: they are answered in full, then the
    /// server exits 0. Both ways through the gateway: the fast path in the connection's
    /// pipeline, and the router's proxy route.
    @Test(arguments: [true, false])
    func sigtermLetsProxiedCallsFinish(fastPath: Bool) async throws {
        let arrived = Locked(0)
        let upstream = try await Self.startUpstream(delay: .seconds(2), arrived: arrived)
        defer { upstream.task.cancel() }
        let directory = try temporaryDirectory()
        let key = try await createTenant("acme", dataDirectory: directory)
        let server = try await ServerProcess.start(
            dataDirectory: directory,
            environment: [
                "BESPOKE_UPSTREAMS": "orders=http://127.0.0.1:\(upstream.port)", "BESPOKE_GATEWAY_FAST_PATH": "\(fastPath)",
                "BESPOKE_ADMIN_TOKEN": "gateway-admin-token-0123",
            ]
        )
        let base = "\(server.baseURL)/v1/tenants/acme/orders"
        // The first call checks the key (the router's way); later ones may take the fast path.
        let warm = try await Self.get("\(base)/ping", key: key)
        #expect(warm.status == 200)
        #expect(warm.body == "pong")

        let calls = (0..<3).map { _ in Task { try await Self.get("\(base)/slow", key: key) } }
        // The signal comes once every call reached the upstream, while all are being answered.
        let deadline = ContinuousClock.now + .seconds(10)
        while arrived.withLock({ $0 }) < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try #require(arrived.withLock { $0 } == 3)
        // On the fast path when it is on (at least one of them: a call can take the router's
        // way while the connection's previous answer ends).
        let metrics = try await Self.get("\(server.baseURL)/metrics", key: "gateway-admin-token-0123")
        let fastCalls = metrics.body.split(separator: "\n").first { $0.hasPrefix("bespoke_gateway_fast_path_calls_total ") }
            .flatMap { Double($0.split(separator: " ")[1]) } ?? 0
        if fastPath { #expect(fastCalls >= 1, "\(metrics.body)") } else { #expect(fastCalls == 0) }
        let signalled = ContinuousClock.now
        server.signal(SIGTERM)
        for call in calls {
            let answer = try await call.value
            #expect(answer.status == 200)
            #expect(answer.body == "slow answer")
        }
        #expect(try await server.waitForExit(timeout: .seconds(20)) == 0)
        // It exited once they were answered, not after a timeout.
        let waited = ContinuousClock.now - signalled
        #expect(waited < .seconds(10), "exited \(waited) after the signal")
    }
}
