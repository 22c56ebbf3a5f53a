import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small keep-alive HTTP/1.1 client for the platform's POSTs to tenants' `http://` endpoints:
/// webhook pushes, and the synchronous calls of extension points and UI slots.
///
/// A push is one POST whose answer is only its status and `Retry-After` (a synchronous call
/// also reads a small body); AsyncHTTPClient spends several times the CPU of the exchange
/// itself on what these do not need (request bags, state machines, a task and its executor per
/// response body). This client writes the request straight into a pooled channel and completes
/// a promise from the channel's handler when the response ends. `https://` endpoints keep going
/// through AsyncHTTPClient.
///
/// Idle connections are kept per host and port, at most ``maxIdlePerHost`` of them, and closed
/// after ``idleTimeout`` (by ``closeIdle()``, which the dispatcher calls periodically). A push
/// on a kept connection that the endpoint had closed meanwhile is made once more on a new one
/// (should the endpoint have taken it before closing, it gets it twice: pushes are at least
/// once, and receivers tell copies apart by `webhook-id`).
final class PlainHTTPClient: Sendable {
    /// Why a call got no (usable) answer.
    enum Failure: Error, Equatable, CustomStringConvertible {
        case connectTimeout
        case connectFailed(String)
        case timedOut
        /// The connection closed (or failed) before the response ended.
        case closed(responseStarted: Bool)
        case responseTooLarge
        /// Another failure of the exchange (AsyncHTTPClient's, for `https` endpoints).
        case failed(String)

        /// No answer in time, or no connection in time.
        var isTimeout: Bool { self == .timedOut || self == .connectTimeout }

        var description: String {
            switch self {
            case .connectTimeout: "connection timed out"
            case .connectFailed(let reason): "could not connect: \(reason)"
            case .timedOut: "timed out"
            case .closed(let started): started ? "the endpoint closed the connection mid-answer" : "the endpoint closed the connection"
            case .responseTooLarge: "the answer was too large"
            case .failed(let reason): "HTTP error: \(reason)"
            }
        }
    }

    /// The longest `Retry-After` honoured: an endpoint cannot park its own deliveries for longer.
    static let maxRetryAfter = Duration.seconds(24 * 3600)

    /// The delay a `Retry-After` value asks for, in seconds (the HTTP-date form is not read),
    /// within ``maxRetryAfter``; nil when absent or not a number.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return min(.seconds(seconds), maxRetryAfter)
    }

    /// What an answer says.
    struct Answer: Sendable {
        let status: Int
        let retryAfter: Duration?
        /// The answer's body, when asked for (`keepingBodyUpTo`).
        let body: ByteBuffer?
    }

    private struct IdleConnection {
        let channel: any Channel
        let since: NIODeadline
    }

    private struct Pool {
        var idle: [String: [IdleConnection]] = [:]
        var closed = false
    }

    private let pool = Mutex(Pool())
    private let group: any EventLoopGroup
    let connectTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let maxIdlePerHost: Int
    /// The most of a push's answer read (and dropped) before the answer is refused.
    let maxResponseBytes: Int
    /// Connections the client began to open (whether or not they connected), for tests.
    let connectionsOpened = Atomic<Int>(0)

    init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, connectTimeout: Duration, idleTimeout: Duration = .seconds(60),
        maxIdlePerHost: Int = 64, maxResponseBytes: Int = 64 * 1024
    ) {
        self.group = group
        self.connectTimeout = .nanoseconds(Int64(connectTimeout.seconds * 1e9))
        self.idleTimeout = .nanoseconds(Int64(idleTimeout.seconds * 1e9))
        self.maxIdlePerHost = maxIdlePerHost
        self.maxResponseBytes = maxResponseBytes
    }

    /// Posts `body` to `url` (an `http` URL) with `headers` and returns the answer, within `timeout`.
    /// The headers' values must be valid (they are written as they are).
    /// - Parameter keepingBodyUpTo: when given, the answer's body is kept, up to that many
    ///   bytes (a longer one fails with ``Failure/responseTooLarge``); otherwise it is read and
    ///   dropped, up to ``maxResponseBytes``.
    /// - Throws: ``Failure``, or `CancellationError`.
    func post(
        _ url: String, headers: [(String, String)], body: ByteBuffer, timeout: Duration, keepingBodyUpTo: Int? = nil
    ) async throws -> Answer {
        try Task.checkCancellation()
        let target = try self.target(url)
        // Made headers at once: `HTTPHeaders.add` checks every name, and these are the platform's.
        var fields: [(String, String)] = []
        fields.reserveCapacity(headers.count + 2)
        fields.append(("host", target.hostHeader))
        fields.append(contentsOf: headers)
        fields.append(("content-length", String(body.readableBytes)))
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.path, headers: HTTPHeaders(fields))
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.seconds * 1e9))
        let answer = AnswerLimit(bytes: keepingBodyUpTo ?? maxResponseBytes, keep: keepingBodyUpTo != nil)

        if let idle = takeIdle(target.key) {
            do {
                return try await exchange(on: idle, key: target.key, head: head, body: body, answer: answer, deadline: deadline)
            } catch Failure.closed(responseStarted: false) {
                // The endpoint closed the kept connection while it was idle: once more, on a new one.
                try Task.checkCancellation()
            }
        }
        let channel = try await connect(host: target.host, port: target.port, deadline: deadline)
        return try await exchange(on: channel, key: target.key, head: head, body: body, answer: answer, deadline: deadline)
    }

    /// How much of an answer's body is read, and whether it is kept.
    struct AnswerLimit: Sendable {
        let bytes: Int
        let keep: Bool
    }

    /// Where an endpoint URL points, parsed once per URL (an endpoint is pushed to again and
    /// again; parsing its URL each time would cost more than writing the request).
    private struct Target: Sendable {
        let host: String
        let port: Int
        let path: String
        let hostHeader: String
        var key: String { "\(host):\(port)" }
    }

    private let targets = Mutex<[String: Target]>([:])

    private func target(_ url: String) throws -> Target {
        if let known = targets.withLock({ $0[url] }) { return known }
        guard let parsed = URL(string: url), parsed.scheme?.lowercased() == "http", let host = parsed.host, !host.isEmpty else {
            throw Failure.connectFailed("not an http URL: \(url)")
        }
        // As written in the URL: percent-encoded, with its trailing slash.
        let written = parsed.path(percentEncoded: true)
        var path = written.isEmpty ? "/" : written
        if let query = parsed.query(percentEncoded: true) { path += "?" + query }
        let authority = host.contains(":") ? "[\(host)]" : host
        let target = Target(
            host: host, port: parsed.port ?? 80, path: path, hostHeader: parsed.port.map { "\(authority):\($0)" } ?? authority
        )
        targets.withLock { targets in
            // Endpoints come and go: a bounded cache, emptied when full.
            if targets.count >= 4096 { targets.removeAll() }
            targets[url] = target
        }
        return target
    }

    /// Whether `url` is an `http` URL (any case), the URLs this client calls.
    static func isPlainHTTP(_ url: String) -> Bool {
        url.utf8.prefix(7).elementsEqual("http://".utf8) { byte, expected in
            byte == expected || (expected >= UInt8(ascii: "a") && expected <= UInt8(ascii: "z") && byte | 0x20 == expected)
        }
    }

    /// Closes idle connections older than ``idleTimeout``.
    func closeIdle() {
        let cutoff = NIODeadline.now() - idleTimeout
        let stale = pool.withLock { pool -> [any Channel] in
            var stale: [any Channel] = []
            for (key, list) in pool.idle {
                let old = list.prefix { $0.since < cutoff }
                guard !old.isEmpty else { continue }
                stale += old.map(\.channel)
                pool.idle[key] = old.count == list.count ? nil : Array(list.dropFirst(old.count))
            }
            return stale
        }
        for channel in stale { channel.close(promise: nil) }
    }

    /// Closes every idle connection; connections in use are closed when their push ends.
    func shutdown() {
        let all = pool.withLock { pool in
            pool.closed = true
            defer { pool.idle = [:] }
            return pool.idle.values.joined().map(\.channel)
        }
        for channel in all { channel.close(promise: nil) }
    }

    private func takeIdle(_ key: String) -> (any Channel)? {
        pool.withLock { pool in
            defer { if pool.idle[key]?.isEmpty == true { pool.idle[key] = nil } }
            while let idle = pool.idle[key]?.popLast() {
                if idle.channel.isActive { return idle.channel }
                idle.channel.close(promise: nil)
            }
            return nil
        }
    }

    private func putIdle(_ channel: any Channel, key: String) {
        let kept = pool.withLock { pool in
            guard !pool.closed, pool.idle[key, default: []].count < maxIdlePerHost else { return false }
            pool.idle[key, default: []].append(IdleConnection(channel: channel, since: .now()))
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    /// Opens a connection within the connect timeout, and within what is left of the push's.
    private func connect(host: String, port: Int, deadline: NIODeadline) async throws -> any Channel {
        let left = deadline - .now()
        guard left > .zero else { throw Failure.timedOut }
        connectionsOpened.add(1, ordering: .relaxed)
        do {
            return try await ClientBootstrap(group: group)
                .connectTimeout(min(connectTimeout, left))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Every header of a call is built by the platform (an event's traceparent is
                        // checked when it is published), so NIO need not check them again.
                        try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                        try channel.pipeline.syncOperations.addHandler(PushExchangeHandler())
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch let error as ChannelError {
            if case .connectTimeout = error { throw Failure.connectTimeout }
            throw Failure.connectFailed("\(error)")
        } catch {
            throw Failure.connectFailed("\(error)")
        }
    }

    private func exchange(
        on channel: any Channel, key: String, head: HTTPRequestHead, body: ByteBuffer, answer: AnswerLimit, deadline: NIODeadline
    ) async throws -> Answer {
        if Task.isCancelled {
            // Not sent: an endpoint should not get a call nobody waits for.
            putIdle(channel, key: key)
            throw CancellationError()
        }
        let promise = channel.eventLoop.makePromise(of: PushExchangeHandler.Result.self)
        // A write that fails (the connection closed before the request reached the handler, or
        // while it was written) fails the exchange: nothing else would complete it.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in promise.fail(Failure.closed(responseStarted: false)) }
        channel.writeAndFlush(
            PushExchangeHandler.Exchange(head: head, body: body, answer: answer, deadline: deadline, promise: promise), promise: written
        )
        let result: PushExchangeHandler.Result
        do {
            result = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                promise.fail(CancellationError())
                channel.close(promise: nil)
            }
        } catch {
            channel.close(promise: nil)
            if error is CancellationError { throw error }
            throw error as? Failure ?? Failure.closed(responseStarted: false)
        }
        // A connection the cancellation handler closed is not kept.
        if result.keepAlive, !Task.isCancelled { putIdle(channel, key: key) } else { channel.close(promise: nil) }
        return Answer(status: result.status, retryAfter: result.retryAfter, body: result.body)
    }
}

/// The last handler of a push connection: writes an exchange's request and completes its
/// promise when the response ends, or fails it when the deadline passes or the connection
/// closes first. One exchange at a time; used on its channel's event loop only.
final class PushExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    struct Exchange: Sendable {
        let head: HTTPRequestHead
        let body: ByteBuffer
        let answer: PlainHTTPClient.AnswerLimit
        let deadline: NIODeadline
        let promise: EventLoopPromise<Result>
    }

    struct Result: Sendable {
        let status: Int
        let retryAfter: Duration?
        let keepAlive: Bool
        let body: ByteBuffer?
    }

    private var promise: EventLoopPromise<Result>?
    private var timeout: Scheduled<Void>?
    private var head: HTTPResponseHead?
    private var limit = PlainHTTPClient.AnswerLimit(bytes: 0, keep: false)
    private var bodyBytes = 0
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise writePromise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard self.promise == nil else {
            // Never happens (the pool lends a connection to one push at a time); refuse rather than interleave.
            exchange.promise.fail(PlainHTTPClient.Failure.closed(responseStarted: false))
            writePromise?.fail(PlainHTTPClient.Failure.closed(responseStarted: false))
            return
        }
        promise = exchange.promise
        head = nil
        limit = exchange.answer
        bodyBytes = 0
        body = nil
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(deadline: exchange.deadline) {
            let (handler, context) = loopBound.value
            handler.fail(.timedOut, context: context)
        }
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: writePromise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard promise != nil else {
            // An answer nobody asked for: the connection is out of step.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            // NIO's decoder drops interim answers (100, 103) but for 101, a switch of protocol
            // nobody asked for: the connection is no longer HTTP.
            guard responseHead.status.code >= 200 else {
                fail(.closed(responseStarted: true), context: context)
                return
            }
            head = responseHead
        case .body(var buffer):
            bodyBytes += buffer.readableBytes
            if bodyBytes > limit.bytes {
                fail(.responseTooLarge, context: context)
            } else if limit.keep {
                if body == nil { body = buffer } else { body?.writeBuffer(&buffer) }
            }
        case .end:
            guard let head, let promise else { return }
            self.promise = nil
            timeout?.cancel()
            timeout = nil
            let retryAfter = PlainHTTPClient.retryAfter(head.headers.first(name: "retry-after"))
            let kept = limit.keep ? (body ?? ByteBuffer()) : nil
            body = nil
            promise.succeed(Result(status: Int(head.status.code), retryAfter: retryAfter, keepAlive: head.isKeepAlive, body: kept))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(.closed(responseStarted: head != nil), context: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.closed(responseStarted: head != nil), context: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.closed(responseStarted: head != nil), context: context)
    }

    /// Fails the exchange in progress, if any, and closes the connection.
    private func fail(_ failure: PlainHTTPClient.Failure, context: ChannelHandlerContext?) {
        timeout?.cancel()
        timeout = nil
        let promise = self.promise
        self.promise = nil
        promise?.fail(failure)
        context?.close(promise: nil)
    }
}
