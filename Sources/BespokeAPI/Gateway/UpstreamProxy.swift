import AsyncHTTPClient
public import BespokeCore
public import BespokeIdentity
import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import NIOHTTP1
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
/// the request's `X-Request-Id` and `traceparent`, but not the caller's credentials.
///
/// Two ways lead there. The router's route (``addRoutes(to:)``) runs the whole middleware
/// stack and forwards with AsyncHTTPClient; it serves every request the fast path leaves to it
/// (the first call with a token, errors, chunked bodies, `https` upstreams). The fast path
/// (``fastRoutes(identity:authenticator:isSuspended:limiter:counter:logger:serverName:)``) proxies the
/// rest in the connection's channel pipeline (see `GatewayFastPath`). Run it as a service: it
/// owns both clients' connections and closes them at shutdown.
public final class UpstreamProxy: Service {
    /// Upstream base URLs by route name.
    public let upstreams: [String: String]
    let maxBodyBytes: Int
    let timeout: Duration
    private let client: HTTPClient
    /// The upstreams the fast path reaches (plain `http`), by route name.
    let targets: [String: UpstreamTarget]
    let pool: UpstreamConnectionPool

    /// - Parameter idleTimeout: how long a connection of the fast path may stay idle before it is closed.
    public init(upstreams: [String: String], maxBodyBytes: Int, timeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(60)) {
        self.pool = UpstreamConnectionPool(idleTimeout: idleTimeout.timeAmount)
        self.upstreams = upstreams.mapValues { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.maxBodyBytes = maxBodyBytes
        self.timeout = timeout
        self.targets = upstreams.reduce(into: [:]) { targets, upstream in
            targets[upstream.key] = UpstreamTarget(name: upstream.key, base: upstream.value)
        }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
        configuration.decompression = .disabled
        configuration.connectionPool = .init(idleTimeout: idleTimeout.timeAmount, concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Calls the fast path has proxied since the process started.
    public var fastPathCalls: Int { pool.requests.load(ordering: .relaxed) }

    /// Connections the fast path has opened to upstreams since the process started.
    public var fastPathConnectionsOpened: Int { pool.connectionsOpened.load(ordering: .relaxed) }

    public func run() async throws {
        try? await gracefulShutdown()
        pool.close()
        try await client.shutdown()
    }

    /// What the fast path needs to proxy calls to these upstreams from memory.
    public func fastRoutes(
        identity: IdentityService, authenticator: APIKeyAuthenticator, isSuspended: @escaping @Sendable (TenantID) -> Bool,
        limiter: TenantRateLimiter, counter: APICallCounter, logger: Logger, serverName: String?
    ) -> GatewayFastRoutes {
        GatewayFastRoutes(
            targets: targets, pool: pool, timeout: timeout.timeAmount,
            maxBodyBytes: maxBodyBytes, identity: identity, authenticator: authenticator, isSuspended: isSuspended, limiter: limiter,
            counter: counter, logger: logger, serverName: serverName
        )
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

    /// Adds to an upstream request the caller's headers but those of one hop and the
    /// credentials, then who is calling, the request id and this hop's trace context.
    static func addUpstreamHeaders(
        to headers: inout HTTPHeaders, from fields: HTTPFields, tenant: TenantID, caller: Caller, requestID: String, traceParent: TraceParent
    ) {
        let named = connectionOptions(fields)
        for field in fields where !dropped.contains(field.name.canonicalName) && !named.contains(field.name.canonicalName) {
            headers.add(name: field.name.rawName, value: field.value)
        }
        var callerHeaders: [(String, String)] = []
        addCallerHeaders(
            to: &callerHeaders, tenant: tenant, caller: caller, scopes: scopesHeader(of: caller), requestID: requestID,
            traceParent: traceParent.description
        )
        headers.add(contentsOf: callerHeaders)
    }

    /// Adds who is calling (`scopes` is ``scopesHeader(of:)``), the request id and this hop's
    /// trace context (`traceParent`, the header's value) to an upstream request's headers.
    static func addCallerHeaders(
        to headers: inout [(String, String)], tenant: TenantID, caller: Caller, scopes: String?, requestID: String, traceParent: String
    ) {
        headers.append(("bespoke-tenant", tenant.rawValue))
        headers.append(("bespoke-caller-kind", caller.kind.rawValue))
        if case .token(let token) = caller {
            headers.append(("bespoke-subject", token.subject))
        }
        if let scopes { headers.append(("bespoke-scopes", scopes)) }
        headers.append(("x-request-id", requestID))
        headers.append(("traceparent", traceParent))
    }

    /// The `Bespoke-Scopes` header for `caller`: an access token's scopes, sorted and separated
    /// by spaces; nil for other callers.
    static func scopesHeader(of caller: Caller) -> String? {
        guard case .token(let token) = caller else { return nil }
        return token.scopes.sorted().joined(separator: " ")
    }

    /// The options of a request's `Connection` headers, lower-cased (`keep-alive`, `close`, or
    /// names of headers that belong to this hop).
    static func connectionOptions(_ fields: HTTPFields) -> Set<String> {
        connectionOptions(values: fields[values: .connection])
    }

    /// The options of an HTTP/1 message's `Connection` headers, lower-cased.
    static func connectionOptions(_ headers: HTTPHeaders) -> Set<String> {
        // Most requests have none: no allocation then.
        guard headers.contains(name: "connection") else { return [] }
        return connectionOptions(values: headers[canonicalForm: "connection"].map(String.init))
    }

    private static func connectionOptions(values: [String]) -> Set<String> {
        var options: Set<String> = []
        for value in values {
            for option in value.utf8.split(separator: UInt8(ascii: ",")) {
                let trimmed = option.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                let end = trimmed.lastIndex { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
                if let end { options.insert(String(Substring(trimmed[...end])).lowercased()) }
            }
        }
        return options
    }

    /// Whether a header of an HTTP/1 message goes on to the next hop: it is not one of
    /// ``dropped`` nor one its `Connection` header names (`connectionOptions`, lower-cased).
    /// Compares without lower-casing the name, which would allocate for every header.
    static func isForwarded(_ name: String, connectionOptions: Set<String>) -> Bool {
        for dropped in droppedNames where sameName(name, dropped) { return false }
        return connectionOptions.isEmpty || !connectionOptions.contains(name.lowercased())
    }

    private static let droppedNames = Array(dropped)

    /// Whether the header name `name` is `lowercased`, in any case.
    static func sameName(_ name: String, _ lowercased: String) -> Bool {
        name.utf8.count == lowercased.utf8.count
            && name.utf8.elementsEqual(lowercased.utf8) { byte, lower in
                (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte) == lower
            }
    }

    /// An upstream response's headers as the fast path hands them on: without those of one hop
    /// (and those its `Connection` header names), with the request id and trace context
    /// (`traceParent`, the header's value) of this hop and the gateway's `Server`.
    static func responseHeaders(_ headers: HTTPHeaders, requestID: String, traceParent: String, serverName: String?) -> HTTPHeaders {
        let named = connectionOptions(headers)
        // Gathered as pairs, as the request's (``GatewayFastRoutes``): the upstream's names were
        // checked when its answer was parsed.
        var result: [(String, String)] = []
        result.reserveCapacity(headers.count + 3)
        for (name, value) in headers where isForwarded(name, connectionOptions: named) {
            // The gateway's own `Server` replaces the upstream's.
            if serverName != nil, sameName(name, "server") { continue }
            result.append((name, value))
        }
        result.append(("x-request-id", requestID))
        result.append(("traceparent", traceParent))
        if let serverName { result.append(("server", serverName)) }
        return HTTPHeaders(result)
    }

    /// An upstream response's headers as the caller gets them: without those of one hop (and
    /// those its `Connection` header names); the gateway sets the request id and trace context.
    static func responseFields(_ headers: HTTPHeaders) -> HTTPFields {
        let named = connectionOptions(headers)
        var fields = HTTPFields()
        for (name, value) in headers where isForwarded(name, connectionOptions: named) {
            guard let name = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: name, value: value))
        }
        return fields
    }

    func forward(_ request: Request, context: TenantRequestContext, name: String, base: String) async throws -> Response {
        var upstream = HTTPClientRequest(url: base + request.uri.description)
        upstream.method = .init(rawValue: request.method.rawValue)
        Self.addUpstreamHeaders(
            to: &upstream.headers, from: request.headers, tenant: context.tenant, caller: context.caller, requestID: context.requestID,
            traceParent: context.traceParent
        )
        if request.method != .get, request.method != .head {
            upstream.body = .bytes(ByteBuffer(bytes: try await JSONBody.collect(request, limit: maxBodyBytes)))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(upstream, timeout: timeout.timeAmount)
        } catch {
            context.logger.warning("upstream failed", metadata: ["upstream": "\(name)", "error": "\(error)"])
            throw BespokeError(.upstreamFailed, "the upstream '\(name)' did not answer")
        }
        return Response(
            status: .init(code: Int(response.status.code)), headers: Self.responseFields(response.headers),
            body: ResponseBody(asyncSequence: response.body)
        )
    }
}

extension Duration {
    /// As NIO's time amount, to the nanosecond.
    var timeAmount: TimeAmount {
        .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }
}
