import BespokeCore
import HTTPTypes
import NIOCore
import NIOHTTP1

/// The gateway's fast path for routes to upstream services: a channel handler in each client
/// connection's pipeline, right after NIO's HTTP/1 codec (see ``GatewayHTTP1Channel``), that
/// proxies a request itself when everything about it is known from memory, on the connection's
/// own event loop with a pooled keep-alive connection to the upstream. It reads and writes
/// NIO's HTTP/1 parts, so a proxied request is never converted to the router's HTTP types.
///
/// It takes an HTTP/1.1 request only when the path is `/v1/tenants/{tenant}/{name}/...` for an
/// upstream `name` on plain HTTP, no header it decides on comes twice, the bearer credential is an access token this process verified before
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
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

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
    private var queued: [HTTPServerRequestPart] = []
    private var readHeld = false
    /// Parts went to the router that no end of read has followed yet. The router's channel
    /// hands reads on at the end of a read, so one is signalled: at the client's end of read,
    /// or right after passing parts that waited here outside a read. An end of read with
    /// nothing passed is not handed on (the router's handlers have nothing to deliver).
    private var passedUnannounced = false
    private var reading = false
    private var quiesceHeld = false
    /// The client's end of input, and errors, that came while a proxied request was answered:
    /// the router would end the connection on them, so they wait until the answer is out.
    private var heldEvents: [Any] = []
    private var heldErrors: [any Error] = []
    private var quiescing = false
    /// The connection's last bearer credential and what was derived from it.
    private var credential: ResolvedCredential?
    /// Checks the exchange's deadline for an answer (``Exchange/deadline``). One is scheduled
    /// at a time and outlives exchanges: a busy keep-alive connection schedules one a timeout,
    /// not one a request.
    private var deadlineCheck: Scheduled<Void>?

    init(routes: GatewayFastRoutes) {
        self.routes = routes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandonExchange()
        deadlineCheck?.cancel()
        deadlineCheck = nil
        self.context = nil
    }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        receive(unwrapInboundIn(data), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        guard passedUnannounced else { return }
        passedUnannounced = false
        context.fireChannelReadComplete()
    }

    /// Hands a part to the router.
    private func pass(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        passedUnannounced = true
        context.fireChannelRead(wrapInboundOut(part))
    }

    private func receive(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
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
        if case .head(let request) = part, !quiescing, let exchange = routes.exchange(for: request, credential: &credential) {
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
        deadlineCheck?.cancel()
        deadlineCheck = nil
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
                let deadline = NIODeadline.now() + routes.timeout
                exchange.deadline = deadline
                checkDeadline(at: deadline, context: context)
            }
        }
        if fresh {
            routes.pool.connect(to: exchange.target, on: context.eventLoop, handle)
        } else {
            routes.pool.connection(to: exchange.target, on: context.eventLoop, handle)
        }
    }

    /// Makes sure a check runs at `deadline` or before: the check fails the exchange if its
    /// deadline has passed, else it is scheduled again for the exchange's deadline. A pending
    /// check is kept as it is: the deadlines of a connection only grow (each is the time the
    /// request was sent plus the one timeout), so it is due at `deadline` or before.
    private func checkDeadline(at deadline: NIODeadline, context: ChannelHandlerContext) {
        guard deadlineCheck == nil else { return }
        deadlineCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            self.deadlineCheck = nil
            guard let exchange = self.exchange, let deadline = exchange.deadline, let context = self.context else { return }
            if deadline <= .now() {
                fail(exchange, BespokeError(.upstreamFailed, "the upstream '\(exchange.target.name)' did not answer in time"), cause: nil)
            } else {
                checkDeadline(at: deadline, context: context)
            }
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
            exchange.deadline = nil
            let headers = UpstreamProxy.responseHeaders(
                head.headers, requestID: exchange.requestID, traceParent: exchange.traceParent, serverName: routes.serverName
            )
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: head.status, headers: headers))), promise: nil)
        case .body(let buffer):
            guard exchange.responseStarted else { return }
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
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
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        if let serverName = routes.serverName { headers.add(name: "server", value: serverName) }
        headers.add(name: "x-request-id", value: exchange.requestID)
        headers.add(name: "traceparent", value: exchange.traceParent)
        let body = ErrorMiddleware<BespokeRequestContext>.body(for: error)
        headers.add(name: "content-length", value: String(body.readableBytes))
        let status = HTTPResponseStatus(statusCode: error.code.httpStatus.code, reasonPhrase: error.code.httpStatus.reasonPhrase)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finish(exchange, reuseConnection: false)
    }

    /// The exchange is answered: the connection goes back to the pool (or is closed), and what
    /// waited behind it is handled.
    private func finish(_ exchange: Exchange, reuseConnection: Bool) {
        exchange.deadline = nil
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
        if passedUnannounced, !reading {
            passedUnannounced = false
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
        exchange.deadline = nil
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
        /// This hop's `traceparent` header, made once for the upstream's request and the answer.
        let traceParent: String
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
        /// When the upstream must have begun its answer; nil once it has (or before the request
        /// is sent).
        var deadline: NIODeadline?

        init(target: UpstreamTarget, head: HTTPRequestHead, requestID: String, traceParent: String) {
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
