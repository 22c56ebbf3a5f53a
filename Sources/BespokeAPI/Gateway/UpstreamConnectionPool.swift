import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Keep-alive HTTP/1.1 connections from the gateway's fast path to the upstreams, kept per
/// event loop: a request proxied for a client connection uses an upstream connection of the
/// same event loop, so proxying it involves no thread hop and no lock but the pool lookup.
///
/// Each event loop keeps at most ``maxIdlePerUpstream`` idle connections per upstream; more
/// are closed when they come back, and one left idle for ``idleTimeout`` is closed by a sweep
/// that runs on its loop. A connection the upstream closed while idle is dropped when next taken.
final class UpstreamConnectionPool: Sendable {
    private let loops = Mutex<[ObjectIdentifier: NIOLoopBound<IdleConnections>]>([:])
    private let closed = Mutex(false)
    /// Requests sent through the pool (the fast path's calls), also `bespoke_gateway_fast_path_calls_total`.
    let requests = Atomic<Int>(0)
    private let requestsMetric = Counter(label: "bespoke_gateway_fast_path_calls_total")
    /// Connections the pool began to open to upstreams (whether or not they connected).
    let connectionsOpened = Atomic<Int>(0)
    let connectTimeout: TimeAmount
    let maxIdlePerUpstream: Int
    let idleTimeout: TimeAmount

    init(connectTimeout: TimeAmount = .seconds(5), maxIdlePerUpstream: Int = 128, idleTimeout: TimeAmount = .seconds(60)) {
        self.connectTimeout = connectTimeout
        self.maxIdlePerUpstream = maxIdlePerUpstream
        self.idleTimeout = max(idleTimeout, .milliseconds(100))
    }

    /// Hands an open connection to `target` to `body`, on `eventLoop`: an idle one when there
    /// is one, else a new one. Must be called on `eventLoop`.
    func connection(
        to target: UpstreamTarget, on eventLoop: any EventLoop, _ body: @escaping (Result<UpstreamConnection, any Error>) -> Void
    ) {
        eventLoop.preconditionInEventLoop()
        requests.add(1, ordering: .relaxed)
        requestsMetric.increment()
        if let idle = idleConnections(on: eventLoop)?.take(target) {
            body(.success(idle))
            return
        }
        connect(to: target, on: eventLoop, body)
    }

    /// Opens a new connection to `target` on `eventLoop`, whatever is idle.
    func connect(
        to target: UpstreamTarget, on eventLoop: any EventLoop, _ body: @escaping (Result<UpstreamConnection, any Error>) -> Void
    ) {
        eventLoop.preconditionInEventLoop()
        connectionsOpened.add(1, ordering: .relaxed)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A proxied request's headers were checked when the client's request was
                    // parsed, and the gateway's own (tenant, caller, request id, traceparent) are
                    // built from checked values: NIO need not check them again on every call.
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(UpstreamResponseHandler())
                }
            }
            .connect(host: target.host, port: target.port)
            .assumeIsolated()
            .whenComplete { result in
                body(
                    result.flatMap { channel in
                        Result {
                            UpstreamConnection(
                                channel: channel, target: target, handler: try channel.pipeline.syncOperations.handler(type: UpstreamResponseHandler.self)
                            )
                        }
                    }
                )
            }
    }

    /// Takes back a connection whose exchange ended cleanly, to be used again; closes it when
    /// the pool is full or closed. Must be called on the connection's event loop.
    func release(_ connection: UpstreamConnection) {
        connection.handler.receiver = nil
        let eventLoop = connection.channel.eventLoop
        guard connection.channel.isActive, !closed.withLock({ $0 }) else {
            connection.channel.close(promise: nil)
            return
        }
        let idle = idleConnections(on: eventLoop, create: true)!
        if !idle.put(connection, max: maxIdlePerUpstream, now: .now()) { connection.channel.close(promise: nil) }
    }

    /// Closes every idle connection; connections in use are closed when they come back.
    func close() {
        let all = closed.withLock { closed in
            closed = true
            return loops.withLock { Array($0.values) }
        }
        for bound in all {
            bound.eventLoop.execute { bound.value.closeAll() }
        }
    }

    private func idleConnections(on eventLoop: any EventLoop, create: Bool = false) -> IdleConnections? {
        let key = ObjectIdentifier(eventLoop)
        let (bound, created) = loops.withLock { loops -> (NIOLoopBound<IdleConnections>?, Bool) in
            if let bound = loops[key] { return (bound, false) }
            guard create else { return (nil, false) }
            let bound = NIOLoopBound(IdleConnections(), eventLoop: eventLoop)
            loops[key] = bound
            return (bound, true)
        }
        if let bound, created {
            // A few sweeps per timeout: an idle connection lives at most 1.25 timeouts.
            let timeout = idleTimeout
            let sweep = TimeAmount.nanoseconds(max(timeout.nanoseconds / 4, 1_000_000))
            eventLoop.scheduleRepeatedTask(initialDelay: sweep, delay: sweep) { [weak self] task in
                guard let self, !self.closed.withLock({ $0 }) else {
                    task.cancel()
                    return
                }
                bound.value.closeIdle(since: .now() - timeout)
            }
        }
        return bound?.value
    }
}

/// The idle connections of one event loop, by upstream. Used on that event loop only.
final class IdleConnections {
    private var byUpstream: [String: [UpstreamConnection]] = [:]

    /// An idle connection to `target` that is still open, if any.
    func take(_ target: UpstreamTarget) -> UpstreamConnection? {
        while let connection = byUpstream[target.name]?.popLast() {
            if connection.channel.isActive && connection.target == target {
                connection.reused = true
                return connection
            }
            connection.channel.close(promise: nil)
        }
        return nil
    }

    /// Keeps `connection` unless `max` are already idle. - Returns: whether it was kept.
    func put(_ connection: UpstreamConnection, max: Int, now: NIODeadline) -> Bool {
        // Appended in place: a copy taken out of the dictionary would be copied again to grow.
        guard byUpstream[connection.target.name, default: []].count < max else { return false }
        connection.idleSince = now
        byUpstream[connection.target.name, default: []].append(connection)
        return true
    }

    /// Closes the connections idle since before `cutoff`. Each list is in the order the
    /// connections came back (taken from the end), so the oldest are at its start.
    func closeIdle(since cutoff: NIODeadline) {
        for (name, list) in byUpstream {
            let stale = list.prefix { $0.idleSince < cutoff }
            guard !stale.isEmpty else { continue }
            for connection in stale { connection.channel.close(promise: nil) }
            byUpstream[name] = Array(list.dropFirst(stale.count))
        }
    }

    func closeAll() {
        for connection in byUpstream.values.joined() { connection.channel.close(promise: nil) }
        byUpstream = [:]
    }
}

/// One keep-alive connection to an upstream. Used on its channel's event loop only.
final class UpstreamConnection {
    let channel: any Channel
    let target: UpstreamTarget
    let handler: UpstreamResponseHandler
    /// Whether it served an exchange before: a request on it may meet a close the upstream
    /// decided while it was idle, and so may be tried again on a new connection.
    var reused = false
    /// When it last came back to the pool.
    var idleSince = NIODeadline.uptimeNanoseconds(0)

    init(channel: any Channel, target: UpstreamTarget, handler: UpstreamResponseHandler) {
        self.channel = channel
        self.target = target
        self.handler = handler
    }
}

/// What receives an upstream connection's response.
protocol UpstreamResponseReceiver: AnyObject {
    func upstreamReceived(_ part: HTTPClientResponsePart)
    /// The end of one read from the upstream: the time to flush what was forwarded.
    func upstreamReadComplete()
    /// The upstream connection closed or failed before the response ended.
    func upstreamClosed(error: (any Error)?)
}

/// The last handler of an upstream connection: hands the response's parts to the exchange
/// using the connection.
final class UpstreamResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// The exchange using the connection; nil while the connection is idle.
    var receiver: (any UpstreamResponseReceiver)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let receiver else {
            // A response nobody asked for: the connection is out of step, drop it.
            context.close(promise: nil)
            return
        }
        receiver.upstreamReceived(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let receiver = self.receiver
        self.receiver = nil
        receiver?.upstreamClosed(error: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let receiver = self.receiver
        self.receiver = nil
        receiver?.upstreamClosed(error: error)
        context.close(promise: nil)
    }
}
