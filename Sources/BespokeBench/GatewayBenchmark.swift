import BespokeAPI
import BespokeCore
import BespokeIdentity
import BespokeServer
import Foundation

/// Options of `bespoke bench gateway`.
public struct GatewayBenchmarkOptions: Sendable {
    /// Seconds each wrk run lasts.
    public var seconds = 10
    /// Connections of the full-speed runs.
    public var connections = 64
    /// The `bespoke` executable, to start the trivial upstream as a child process.
    public var executable: String
    public var directory: String

    public init(executable: String, directory: String) {
        self.executable = executable
        self.directory = directory
    }
}

/// The gateway against nginx, side by side in one run, with wrk: the same trivial upstream (a
/// child process answering `hello`) is reached directly, through nginx as a plain reverse
/// proxy, and through the gateway (JWT verification, tenant resolution, scope check, rate
/// limit, call count, routing). Reports each one's peak requests/s, then the p50/p99 of each at
/// half the gateway's peak, and what the gateway and nginx add to the direct p99.
public enum GatewayBenchmark {
    public static func run(_ options: GatewayBenchmarkOptions, report: @escaping @Sendable (String) -> Void) async throws {
        let upstream = try ReceiverProcess.start(executable: options.executable)
        defer { upstream.stop() }
        var (configuration, logger) = try BenchServer.configuration(directory: options.directory, durability: .normal)
        configuration.gateway.upstreams = ["echo": "http://127.0.0.1:\(upstream.port)"]
        configuration.gateway.rateLimit = 1_000_000_000
        configuration.gateway.rateBurst = 1_000_000_000
        let platform = try await openPlatform(configuration, logger: logger)
        let tenant = try await TenantOnboarding.createTenant(id: "bench", name: nil, tenants: platform.store, keys: platform.store)
        let (client, secret) = try await platform.identity.createClient(
            tenant: tenant.tenant.id, name: "bench", confidential: true, scopes: ["echo"], redirectURIs: []
        )
        let (port, server) = try await BenchServer.serve(platform, configuration, logger: logger)
        defer { server.cancel() }
        // After the server listens: the issuer is its address from then on.
        let token = try await platform.identity.token(form: ["grant_type": "client_credentials"], basic: (client.id, secret ?? ""))
        let nginxPort = try FreePort.find(1, besides: [port, upstream.port])[0]
        let nginx = try NginxProcess.start(upstreamPort: upstream.port, port: nginxPort, directory: options.directory)
        defer { nginx.stop() }

        let path = "/v1/tenants/bench/echo/hello"
        let targets: [(name: String, url: String, headers: [String: String])] = [
            ("direct", "http://127.0.0.1:\(upstream.port)\(path)", [:]),
            ("nginx", "http://127.0.0.1:\(nginx.port)\(path)", [:]),
            ("gateway", "http://127.0.0.1:\(port)\(path)", ["Authorization": "Bearer \(token.accessToken)"]),
        ]
        report("bespoke bench gateway: GET \(path), wrk -t2, \(options.seconds) s a run; the upstream is a separate process")
        // The proxy's own CPU: nginx's processes, or this one (the gateway); none for direct.
        let proxyCPU: [String: @Sendable () -> Double?] = ["nginx": { nginx.cpuSeconds }, "gateway": { ProcessCPUTime.seconds() }]
        var peaks: [String: Double] = [:]
        var cpuPerRequest: [String: Double] = [:]
        for target in targets {
            // Warm-up: connections, pools, caches.
            _ = try Wrk.run(url: target.url, headers: target.headers, connections: options.connections, seconds: 2, directory: options.directory)
            let before = (proxy: proxyCPU[target.name]?(), upstream: upstream.cpuSeconds)
            let result = try Wrk.run(
                url: target.url, headers: target.headers, connections: options.connections, seconds: options.seconds, directory: options.directory
            )
            guard result.errors == 0 else { throw BenchError("\(target.name) answered \(result.errors) non-2xx responses") }
            peaks[target.name] = result.requestsPerSecond
            var line = "  peak " + Self.padded(target.name) + String(format: " %8.0f req/s   (p50 %.2f ms, p99 %.2f ms at %d connections)",
                          result.requestsPerSecond, result.p50Ms, result.p99Ms, options.connections)
            let requests = Double(max(result.requests, 1))
            var cpu: [String] = []
            if let before = before.proxy, let after = proxyCPU[target.name]?() {
                cpuPerRequest[target.name] = (after - before) / requests * 1e6
                cpu.append(String(format: "proxy %.1f µs", (after - before) / requests * 1e6))
            }
            if let before = before.upstream, let after = upstream.cpuSeconds {
                cpu.append(String(format: "upstream %.1f µs", (after - before) / requests * 1e6))
            }
            if !cpu.isEmpty { line += "; CPU a request: " + cpu.joined(separator: ", ") }
            report(line)
        }
        let gatewayPeak = peaks["gateway"] ?? 0
        let nginxPeak = peaks["nginx"] ?? 1
        report(String(format: "  gateway / nginx throughput: %.0f%%", gatewayPeak / nginxPeak * 100))
        if let gateway = cpuPerRequest["gateway"], let nginx = cpuPerRequest["nginx"] {
            report(String(format: "  the proxy's own CPU a request: gateway %.1f µs, nginx %.1f µs (%.2fx)", gateway, nginx, gateway / nginx))
        }

        let rate = gatewayPeak / 2
        report(String(format: "  at half the gateway's peak, %.0f req/s:", rate))
        var p99: [String: Double] = [:]
        for target in targets {
            let result = try Wrk.run(
                url: target.url, headers: target.headers, connections: options.connections, seconds: options.seconds, rate: rate,
                directory: options.directory
            )
            p99[target.name] = result.p99Ms
            report("    " + Self.padded(target.name) + String(format: " %8.0f req/s   p50 %.3f ms   p99 %.3f ms", result.requestsPerSecond, result.p50Ms, result.p99Ms))
        }
        report(String(format: "  added p99 over direct: gateway %.3f ms, nginx %.3f ms",
                      (p99["gateway"] ?? 0) - (p99["direct"] ?? 0), (p99["nginx"] ?? 0) - (p99["direct"] ?? 0)))
    }

    static func padded(_ name: String) -> String { name.padding(toLength: 8, withPad: " ", startingAt: 0) }
}
