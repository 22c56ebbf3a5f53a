import BespokeCore
import BespokeIdentity
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// What the fast path needs to decide a request from memory: the upstreams, the credential
/// caches, the tenants' state, the rate limits and the call counter.
public struct GatewayFastRoutes: Sendable {
    let targets: [String: UpstreamTarget]
    let pool: UpstreamConnectionPool
    let timeout: TimeAmount
    let maxBodyBytes: Int
    let identity: IdentityService
    let authenticator: APIKeyAuthenticator
    let isSuspended: @Sendable (TenantID) -> Bool
    let limiter: TenantRateLimiter
    let counter: APICallCounter
    let logger: Logger
    /// The `Server` header of responses, as the router's responses have it.
    let serverName: String?

    /// The channel handler to put between the HTTP/1 codec and the router's, a new one for each
    /// client connection (see ``GatewayHTTP1Channel``).
    func makeChannelHandler() -> GatewayFastPath {
        GatewayFastPath(routes: self)
    }

    /// The exchange for `request` when the fast path may take it, with the call counted and
    /// rate-limited; nil to hand it to the router.
    /// - Parameter credential: who presented the connection's last bearer credential, kept by the
    ///   connection so that a client presenting the same one again costs no new derivation.
    func exchange(for request: HTTPRequestHead, credential: inout ResolvedCredential?) -> GatewayFastPath.Exchange? {
        // The methods the router's upstream route serves (HEAD is the router's GET without a
        // body), on HTTP/1.1: the fast path answers on a kept connection, and HTTP/1.0 requests,
        // rare, go the router's way so that nothing about them differs between the two.
        switch request.method {
        case .GET, .POST, .PUT, .PATCH, .DELETE: break
        default: return nil
        }
        guard request.version == .http1_1, let (tenantName, name) = Self.route(of: request.uri), let target = targets[name] else { return nil }
        let headers = request.headers
        let deciding = DecidingHeaders(headers)
        // Framing the router handles (chunked bodies, expectations, `Connection` other than
        // keep-alive: close, upgrade), and repeated headers, which the router reads joined.
        guard !deciding.leaveToRouter else { return nil }
        let connectionOptions = deciding.hasConnection ? UpstreamProxy.connectionOptions(headers) : []
        guard connectionOptions.allSatisfy({ $0 == "keep-alive" }) else { return nil }
        if let length = deciding.contentLength {
            guard let bytes = Int(length), bytes <= maxBodyBytes else { return nil }
        }
        guard let header = deciding.authorization, let bearer = AuthenticationMiddleware.bearerCredentials(header),
            let resolved = resolve(bearer, credential: &credential)
        else { return nil }
        let tenant = resolved.tenant
        guard tenant.rawValue == tenantName, !isSuspended(tenant), resolved.caller.has(scope: name), limiter.acquire(tenant) == nil else {
            return nil
        }
        counter.record(tenant: tenant, kind: resolved.caller.kind)
        let requestID = RequestTracingMiddleware.requestID(given: deciding.requestID)
        let traceParent = RequestTracingMiddleware.traceParent(given: deciding.traceParent).description
        // Gathered as pairs and made headers at once: `HTTPHeaders.add` checks each name again,
        // and these were checked when the request was parsed or are the gateway's own.
        var upstreamHeaders: [(String, String)] = []
        upstreamHeaders.reserveCapacity(headers.count + 6)
        upstreamHeaders.append(("host", target.authority))
        for (name, value) in headers where UpstreamProxy.isForwarded(name, connectionOptions: connectionOptions) {
            upstreamHeaders.append((name, value))
        }
        UpstreamProxy.addCallerHeaders(
            to: &upstreamHeaders, tenant: tenant, caller: resolved.caller, scopes: resolved.scopes, requestID: requestID, traceParent: traceParent
        )
        let head = HTTPRequestHead(
            version: .http1_1, method: request.method, uri: target.pathPrefix + request.uri, headers: HTTPHeaders(upstreamHeaders)
        )
        return GatewayFastPath.Exchange(target: target, head: head, requestID: requestID, traceParent: traceParent)
    }

    /// Who presents `bearer`, from memory only: the connection's last token again until it
    /// expires (`credential`: a verified token's claims never change), else an access token this
    /// process verified before (in the identity's cache until it expires), or a tenant key it
    /// looked up before, asked every time so that a key forgotten stops here.
    private func resolve(_ bearer: String, credential: inout ResolvedCredential?) -> ResolvedCredential? {
        if let known = credential, let expiresAt = known.expiresAt, known.bearer == bearer {
            if Date() < expiresAt { return known }
            credential = nil
            return nil
        }
        let caller: Caller
        var expiresAt: Date?
        if let claims = identity.previouslyVerifiedAccessToken(bearer) {
            guard let derived = Caller(claims: claims) else { return nil }
            caller = derived
            expiresAt = claims.exp.value
        } else if let key = authenticator.cachedCaller(bearer: bearer) {
            caller = key
        } else {
            return nil
        }
        guard let tenant = caller.tenant else { return nil }
        let resolved = ResolvedCredential(
            bearer: bearer, caller: caller, tenant: tenant, scopes: UpstreamProxy.scopesHeader(of: caller), expiresAt: expiresAt
        )
        if expiresAt != nil { credential = resolved }
        return resolved
    }

    /// The tenant and route name of `/v1/tenants/{tenant}/{name}/...`; nil for any other path.
    /// Works on the path's UTF-8 bytes: splitting it as characters was a quarter of the time
    /// a request spends deciding.
    static func route(of path: String) -> (tenant: Substring, name: String)? {
        let utf8 = path.utf8
        let prefix = "/v1/tenants/".utf8
        guard utf8.starts(with: prefix) else { return nil }
        let slash = UInt8(ascii: "/")
        let tenantStart = utf8.index(utf8.startIndex, offsetBy: prefix.count)
        let end = utf8[tenantStart...].firstIndex(of: UInt8(ascii: "?")) ?? utf8.endIndex
        guard let tenantEnd = utf8[tenantStart..<end].firstIndex(of: slash), tenantEnd != tenantStart else { return nil }
        let nameStart = utf8.index(after: tenantEnd)
        guard let nameEnd = utf8[nameStart..<end].firstIndex(of: slash), nameEnd != nameStart else { return nil }
        // A remainder that names something: the router drops empty path components, so
        // `/{name}/` is not its upstream route.
        guard utf8[utf8.index(after: nameEnd)..<end].contains(where: { $0 != slash }) else { return nil }
        return (path[tenantStart..<tenantEnd], String(path[nameStart..<nameEnd]))
    }
}

/// A bearer credential the fast path resolved, with what the upstream is told about its holder.
struct ResolvedCredential {
    let bearer: String
    let caller: Caller
    let tenant: TenantID
    /// The `Bespoke-Scopes` header (an access token's scopes, sorted); nil for a tenant key.
    let scopes: String?
    /// When the access token expires; nil for a tenant key.
    let expiresAt: Date?
}

/// The request headers the fast path decides on, read in one pass.
struct DecidingHeaders {
    var authorization: String?
    var requestID: String?
    var traceParent: String?
    var contentLength: String?
    var hasConnection = false
    /// The request is the router's: it has a `Transfer-Encoding` or an `Expect`, or one of the
    /// headers above more than once (the router reads repeated headers joined by commas, which
    /// would give another credential, request id or trace than the first alone).
    var leaveToRouter = false

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            switch name.utf8.count {
            case 13 where UpstreamProxy.sameName(name, "authorization"):
                if authorization == nil { authorization = value } else { leaveToRouter = true }
            case 12 where UpstreamProxy.sameName(name, "x-request-id"):
                if requestID == nil { requestID = value } else { leaveToRouter = true }
            case 11 where UpstreamProxy.sameName(name, "traceparent"):
                if traceParent == nil { traceParent = value } else { leaveToRouter = true }
            case 14 where UpstreamProxy.sameName(name, "content-length"):
                if contentLength == nil { contentLength = value } else { leaveToRouter = true }
            case 10 where UpstreamProxy.sameName(name, "connection"):
                hasConnection = true
            case 17 where UpstreamProxy.sameName(name, "transfer-encoding"), 6 where UpstreamProxy.sameName(name, "expect"):
                leaveToRouter = true
            default:
                break
            }
        }
    }
}
