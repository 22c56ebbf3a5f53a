import BespokeCore
import BespokeIdentity
import HTTPTypes
import Logging
public import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The gateway's fast path for routes to upstream services: a channel handler in each client
/// connection's pipeline, in front of the router, that proxies a request itself when everything
/// about it is known from memory, on the connection's own event loop with a pooled keep-alive
/// connection to the upstream.
///
/// It takes a request only when the path is `/v1/tenants/{tenant}/{name}/...` for an upstream
/// `name` on plain HTTP, the bearer credential is an access token this process verified before
/// (or a tenant key it looked up before) of that tenant, the tenant is not suspended, the
/// credential has the scope `name`, the tenant's rate limit has a token left, the body is
/// framed by a `Content-Length` within the limit. A request that comes while the router is
/// still answering the connection's previous one (a client has a `Content-Length` body whole
/// before the router's end of response has come by here) waits here for that end, then is
/// decided. Everything else, and every error those checks would answer, goes to
/// the router unchanged (``UpstreamProxy``'s route), which gives the same answer the slow way:
/// the same headers reach the upstream, the call is counted once and rate-limited once.
///
/// Responses keep the connection's request order: while a proxied response is written, later
/// (pipelined) requests wait here, and the client's reads pause.
final class GatewayFastPath: ChannelDuplexHandler, RemovableChannelHandler, UpstreamResponseReceiver {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let routes: GatewayFastRoutes
    private var context: ChannelHandlerContext?
    /// The request taken on the fast path: receiving its body, then waiting for its answer.
    private var exchange: Exchange?
    /// Whether the parts arriving belong to a request handed to the router.
    private var passing = false
    /// Requests handed to the router whose response has not ended yet.
    private var passedInFlight = 0
    /// Parts that came while a proxied request was being answered, or while the router was
    /// still answering the previous request.
    private var queued: [HTTPRequestPart] = []
    private var readHeld = false
    /// Parts were passed on outside of a read from the client (pipelined ones, after a proxied
    /// answer): the router's channel hands reads on at the end of a read, so one is signalled.
    private var passedOutsideRead = false
    private var reading = false
    private var quiesceHeld = false
    /// The client's end of input, and errors, that came while a proxied request was answered:
    /// the router would end the connection on them, so they wait until the answer is out.
    private var heldEvents: [Any] = []
    private var heldErrors: [any Error] = []
    private var quiescing = false

    init(routes: GatewayFastRoutes) {
        self.routes = routes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandonExchange()
        self.context = nil
    }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        receive(unwrapInboundIn(data), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        passedOutsideRead = false
        context.fireChannelReadComplete()
    }

    /// Hands a part to the router.
    private func pass(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if !reading { passedOutsideRead = true }
        context.fireChannelRead(wrapInboundOut(part))
    }

    private func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if let exchange {
            guard !exchange.requestEnded else {
                queued.append(part)
                return
            }
            switch part {
            case .head: break
            case .body(var buffer): exchange.body.writeBuffer(&buffer)
            case .end:
                exchange.requestEnded = true
                send(exchange, context: context, fresh: false)
            }
            return
        }
        if passing {
            if case .end = part { passing = false }
            pass(part, context: context)
            return
        }
        if !queued.isEmpty {
            queued.append(part)
            return
        }
        if case .head = part, passedInFlight > 0, !quiescing {
            // The router is still answering: decided once its end of response has come by
            // (``write(context:data:promise:)``), so that this one may take the fast path.
            queued.append(part)
            return
        }
        if case .head(let request) = part, !quiescing, let exchange = routes.exchange(for: request) {
            self.exchange = exchange
            return
        }
        if case .head = part {
            passedInFlight += 1
            passing = true
        }
        pass(part, context: context)
    }

    func read(context: ChannelHandlerContext) {
        // Requests are waiting: read no more until they are handled.
        if !queued.isEmpty {
            readHeld = true
            return
        }
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if isBusy {
            heldErrors.append(error)
            return
        }
        context.fireErrorCaught(error)
    }

    /// Whether a proxied request is being answered or requests wait behind one.
    private var isBusy: Bool { exchange != nil || !queued.isEmpty }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed, isBusy {
            heldEvents.append(event)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            // The server is shutting down: take no more requests here, and let the router's
            // connection handling close the connection once the request in flight is answered.
            quiescing = true
            if exchange != nil {
                quiesceHeld = true
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        abandonExchange()
        queued = []
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Backpressure: read the upstream's answer only as fast as the client takes it.
        if let exchange, let connection = exchange.connection {
            let writable = context.channel.isWritable
            if !writable { exchange.upstreamPaused = true }
            connection.channel.setOption(ChannelOptions.autoRead, value: writable).whenFailure { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: From the router

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        passedInFlight = max(0, passedInFlight - 1)
        context.write(data, promise: promise)
        if passedInFlight == 0, exchange == nil, !queued.isEmpty {
            // Requests waited for this end: decided on the loop's next turn, not inside the
            // router's write.
            context.eventLoop.assumeIsolated().execute { [self] in
                guard self.passedInFlight == 0, self.exchange == nil else { return }
                self.handleQueued()
            }
        }
    }

    // MARK: To the upstream

    /// Sends the whole request on a pooled connection (or a new one when `fresh`).
    private func send(_ exchange: Exchange, context: ChannelHandlerContext, fresh: Bool) {
        let handle: (Result<UpstreamConnection, any Error>) -> Void = { [self] result in
            guard self.exchange === exchange, let context = self.context else {
                if case .success(let connection) = result { routes.pool.release(connection) }
                return
            }
            switch result {
            case .failure(let error):
                fail(exchange, BespokeError(.upstreamFailed, "the upstream '\(exchange.target.name)' did not answer"), cause: error)
            case .success(let connection):
                exchange.connection = connection
                connection.handler.receiver = self
                var head = exchange.head
                if exchange.body.readableBytes > 0 || (exchange.head.method != .GET && exchange.head.method != .HEAD) {
                    head.headers.replaceOrAdd(name: "content-length", value: String(exchange.body.readableBytes))
                }
                connection.channel.write(HTTPClientRequestPart.head(head), promise: nil)
                if exchange.body.readableBytes > 0 {
                    connection.channel.write(HTTPClientRequestPart.body(.byteBuffer(exchange.body)), promise: nil)
                }
                connection.channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                exchange.timeout?.cancel()
                exchange.timeout = context.eventLoop.assumeIsolated().scheduleTask(in: routes.timeout) { [self] in
                    guard self.exchange === exchange else { return }
                    fail(exchange, BespokeError(.upstreamFailed, "the upstream '\(exchange.target.name)' did not answer in time"), cause: nil)
                }
            }
        }
        if fresh {
            routes.pool.connect(to: exchange.target, on: context.eventLoop, handle)
        } else {
            routes.pool.connection(to: exchange.target, on: context.eventLoop, handle)
        }
    }

    // MARK: From the upstream

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard let exchange, let context else { return }
        switch part {
        case .head(let head):
            // An interim answer (100 Continue, 103 Early Hints) is not the response.
            if head.status.code < 200 { return }
            exchange.responseStarted = true
            exchange.keepAlive = head.isKeepAlive
            // The timeout bounds the wait for the answer, not how long its body streams.
            exchange.timeout?.cancel()
            exchange.timeout = nil
            var fields = UpstreamProxy.responseFields(head.headers)
            fields[.requestID] = exchange.requestID
            fields[.traceparent] = exchange.traceParent.description
            if let serverName = routes.serverName { fields[.server] = serverName }
            let status = HTTPResponse.Status(code: Int(head.status.code), reasonPhrase: head.status.reasonPhrase)
            context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        case .body(let buffer):
            guard exchange.responseStarted else { return }
            context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        case .end:
            guard exchange.responseStarted else { return }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            finish(exchange, reuseConnection: exchange.keepAlive)
        }
    }

    func upstreamReadComplete() {
        if exchange?.responseStarted == true { context?.flush() }
    }

    func upstreamClosed(error: (any Error)?) {
        guard let exchange, let context else { return }
        exchange.connection = nil
        // A reused connection the upstream had closed while it was idle: try once more on a new
        // one, when the request is safe to repeat.
        if !exchange.responseStarted, !exchange.retried, exchange.reusedConnection, exchange.isIdempotent {
            exchange.retried = true
            send(exchange, context: context, fresh: true)
            return
        }
        fail(exchange, BespokeError(.upstreamFailed, "the upstream '\(exchange.target.name)' did not answer"), cause: error)
    }

    // MARK: Ending

    private func fail(_ exchange: Exchange, _ error: BespokeError, cause: (any Error)?) {
        guard let context else { return }
        routes.logger.warning(
            "upstream failed", metadata: ["upstream": "\(exchange.target.name)", "requestId": "\(exchange.requestID)", "error": "\(cause.map { "\($0)" } ?? error.message)"]
        )
        guard !exchange.responseStarted else {
            // Part of the answer is out: the client can only learn of the failure by the close.
            abandonExchange()
            context.close(promise: nil)
            return
        }
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        if let serverName = routes.serverName { fields[.server] = serverName }
        fields[.requestID] = exchange.requestID
        fields[.traceparent] = exchange.traceParent.description
        let body = ErrorMiddleware<BespokeRequestContext>.body(for: error)
        fields[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: error.code.httpStatus, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finish(exchange, reuseConnection: false)
    }

    /// The exchange is answered: the connection goes back to the pool (or is closed), and what
    /// waited behind it is handled.
    private func finish(_ exchange: Exchange, reuseConnection: Bool) {
        exchange.timeout?.cancel()
        if let connection = exchange.connection {
            exchange.connection = nil
            // A connection whose reading was paused for a slow client is not reused.
            if reuseConnection && !exchange.upstreamPaused {
                routes.pool.release(connection)
            } else {
                connection.handler.receiver = nil
                connection.channel.close(promise: nil)
            }
        }
        self.exchange = nil
        handleQueued()
    }

    /// Handles what waited behind an answer (proxied, or the router's), then lets reads, held
    /// errors and events, and a held quiesce go on once nothing waits any more.
    private func handleQueued() {
        guard let context else { return }
        let waiting = queued
        queued = []
        for part in waiting { receive(part, context: context) }
        if passedOutsideRead {
            passedOutsideRead = false
            context.fireChannelReadComplete()
        }
        // Read again unless pipelined requests still wait (a new proxied request may need
        // its body, which is still to be read).
        if readHeld, exchange == nil || queued.isEmpty {
            readHeld = false
            context.read()
        }
        guard !isBusy else { return }
        for error in heldErrors { context.fireErrorCaught(error) }
        heldErrors = []
        for event in heldEvents { context.fireUserInboundEventTriggered(event) }
        heldEvents = []
        if quiesceHeld {
            quiesceHeld = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    /// The client is gone: the upstream connection, mid-exchange, cannot be reused.
    private func abandonExchange() {
        guard let exchange else { return }
        exchange.timeout?.cancel()
        if let connection = exchange.connection {
            connection.handler.receiver = nil
            connection.channel.close(promise: nil)
        }
        exchange.connection = nil
        self.exchange = nil
    }
}

extension GatewayFastPath {
    /// A request taken on the fast path. Used on its connection's event loop only.
    final class Exchange {
        let target: UpstreamTarget
        var head: HTTPRequestHead
        let requestID: String
        let traceParent: TraceParent
        var body = ByteBuffer()
        var requestEnded = false
        var connection: UpstreamConnection? {
            didSet { if connection?.reused == true { reusedConnection = true } }
        }
        var reusedConnection = false
        var responseStarted = false
        var keepAlive = true
        var retried = false
        /// Whether reading the upstream was paused for the client (backpressure).
        var upstreamPaused = false
        var timeout: Scheduled<Void>?

        init(target: UpstreamTarget, head: HTTPRequestHead, requestID: String, traceParent: TraceParent) {
            self.target = target
            self.head = head
            self.requestID = requestID
            self.traceParent = traceParent
        }

        /// Whether the request may be sent twice (RFC 9110 §9.2.2).
        var isIdempotent: Bool {
            switch head.method {
            case .GET, .HEAD, .PUT, .DELETE, .OPTIONS, .TRACE: true
            default: false
            }
        }
    }
}

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

    /// The channel handlers to put in front of the router, a new set for each client connection.
    public func makeChannelHandlers() -> [any RemovableChannelHandler] {
        [GatewayFastPath(routes: self)]
    }

    /// The exchange for `request` when the fast path may take it, with the call counted and
    /// rate-limited; nil to hand it to the router.
    func exchange(for request: HTTPRequest) -> GatewayFastPath.Exchange? {
        // The methods the router's upstream route serves (HEAD is the router's GET without a body).
        guard [.get, .post, .put, .patch, .delete].contains(request.method) else { return nil }
        guard let path = request.path, let (tenantName, name) = Self.route(of: path), let target = targets[name] else { return nil }
        let fields = request.headerFields
        // Framing the router handles: chunked bodies, expectations, `Connection` other than
        // keep-alive (close, upgrade).
        let connectionOptions = UpstreamProxy.connectionOptions(fields)
        guard fields[.transferEncoding] == nil, fields[.expect] == nil, connectionOptions.allSatisfy({ $0 == "keep-alive" }) else { return nil }
        if let length = fields[.contentLength] {
            guard let bytes = Int(length), bytes <= maxBodyBytes else { return nil }
        }
        guard let header = fields[.authorization], let bearer = AuthenticationMiddleware.bearerCredentials(header) else { return nil }
        // Only access tokens verified before are in the identity's cache, and only tenant keys
        // looked up before in the authenticator's (which turns anything else away on its prefix).
        let caller: Caller?
        if let claims = identity.previouslyVerifiedAccessToken(bearer) {
            caller = Caller(claims: claims)
        } else {
            caller = authenticator.cachedCaller(bearer: bearer)
        }
        guard let caller, let tenant = caller.tenant, tenant.rawValue == tenantName, !isSuspended(tenant), caller.has(scope: name),
            limiter.acquire(tenant) == nil
        else { return nil }
        counter.record(tenant: tenant, kind: caller.kind)
        let requestID = RequestTracingMiddleware.requestID(given: fields[.requestID])
        let traceParent = RequestTracingMiddleware.traceParent(given: fields[.traceparent])
        var headers = HTTPHeaders()
        headers.add(name: "host", value: target.authority)
        UpstreamProxy.addUpstreamHeaders(
            to: &headers, from: fields, connectionOptions: connectionOptions, tenant: tenant, caller: caller, requestID: requestID,
            traceParent: traceParent
        )
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(request.method), uri: target.pathPrefix + path, headers: headers)
        return GatewayFastPath.Exchange(target: target, head: head, requestID: requestID, traceParent: traceParent)
    }

    /// The tenant and route name of `/v1/tenants/{tenant}/{name}/...`; nil for any other path.
    static func route(of path: String) -> (tenant: Substring, name: String)? {
        let prefix = "/v1/tenants/"
        guard path.hasPrefix(prefix) else { return nil }
        let rest = path.dropFirst(prefix.count)
        let withoutQuery = rest.prefix { $0 != "?" }
        let segments = withoutQuery.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        // The tenant, the name, and a remainder that names something (the router drops empty
        // path components, so `/{name}/` is not its upstream route).
        guard segments.count == 3, !segments[0].isEmpty, !segments[1].isEmpty, segments[2].contains(where: { $0 != "/" }) else { return nil }
        return (segments[0], String(segments[1]))
    }
}
