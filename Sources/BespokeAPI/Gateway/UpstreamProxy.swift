import AsyncHTTPClient
public import BespokeCore
import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization

/// Routes tenant API calls to services that run as separate processes: calls to
/// `/v1/tenants/{tenant}/{name}/...` go to the upstream configured for `name`, with the same
/// path and query, once the gateway has authenticated the caller, resolved the tenant, checked
/// the scope `name`, applied the tenant's rate limit and counted the call.
///
/// The upstream receives who is calling in headers it can trust because only the gateway
/// reaches it (`Bespoke-Tenant`, `Bespoke-Subject`, `Bespoke-Caller-Kind`, `Bespoke-Scopes`),
/// the request's `X-Request-Id` and `traceparent`, but not the caller's credentials. Run it as a
/// service: it owns its HTTP client (a keep-alive pool per upstream).
public final class UpstreamProxy: Service {
    /// Upstream base URLs by route name.
    public let upstreams: [String: String]
    let maxBodyBytes: Int
    let timeout: Duration
    private let client: HTTPClient

    public init(upstreams: [String: String], maxBodyBytes: Int, timeout: Duration = .seconds(30)) {
        self.upstreams = upstreams.mapValues { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.maxBodyBytes = maxBodyBytes
        self.timeout = timeout
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
        configuration.decompression = .disabled
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }

    /// Adds `/{name}/**` under the tenant routes for each upstream, needing the scope `name`.
    public func addRoutes(to tenant: RouterGroup<TenantRequestContext>) {
        for (name, base) in upstreams {
            let group = tenant.group(RouterPath(name)).add(middleware: RequireScope(name))
            let handler: @Sendable (Request, TenantRequestContext) async throws -> Response = { request, context in
                try await self.forward(request, context: context, name: name, base: base)
            }
            group.on("**", method: .get, use: handler)
            group.on("**", method: .post, use: handler)
            group.on("**", method: .put, use: handler)
            group.on("**", method: .patch, use: handler)
            group.on("**", method: .delete, use: handler)
        }
    }

    /// Headers that belong to one hop (RFC 9110 §7.6.1) or to the caller's credentials.
    static let dropped: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "authorization", "host",
        "bespoke-tenant", "bespoke-subject", "bespoke-caller-kind", "bespoke-scopes", "x-request-id", "traceparent",
    ]

    func forward(_ request: Request, context: TenantRequestContext, name: String, base: String) async throws -> Response {
        var upstream = HTTPClientRequest(url: base + request.uri.description)
        upstream.method = .init(rawValue: request.method.rawValue)
        for field in request.headers where !Self.dropped.contains(field.name.canonicalName) {
            upstream.headers.add(name: field.name.rawName, value: field.value)
        }
        upstream.headers.add(name: "bespoke-tenant", value: context.tenant.rawValue)
        upstream.headers.add(name: "bespoke-caller-kind", value: context.caller.kind.rawValue)
        if case .token(let token) = context.caller {
            upstream.headers.add(name: "bespoke-subject", value: token.subject)
            upstream.headers.add(name: "bespoke-scopes", value: token.scopes.sorted().joined(separator: " "))
        }
        upstream.headers.add(name: "x-request-id", value: context.requestID)
        upstream.headers.add(name: "traceparent", value: context.traceParent.description)
        if request.method != .get, request.method != .head {
            upstream.body = .bytes(ByteBuffer(bytes: try await JSONBody.collect(request, limit: maxBodyBytes)))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(upstream, timeout: .seconds(timeout.components.seconds))
        } catch {
            context.logger.warning("upstream failed", metadata: ["upstream": "\(name)", "error": "\(error)"])
            throw BespokeError(.upstreamFailed, "the upstream '\(name)' did not answer")
        }
        var headers = HTTPFields()
        for header in response.headers where !Self.dropped.contains(header.name.lowercased()) {
            if let name = HTTPField.Name(header.name) { headers.append(HTTPField(name: name, value: header.value)) }
        }
        return Response(
            status: .init(code: Int(response.status.code)), headers: headers,
            body: ResponseBody(asyncSequence: response.body)
        )
    }
}
