public import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The HTTP/1.1 server channel of a gateway with a fast path: Hummingbird's HTTP/1 channel,
/// with ``GatewayFastPath`` between NIO's HTTP/1 codec and the conversion to the HTTP types the
/// router reads. A request the fast path proxies is never converted: its head and the upstream's
/// answer stay in NIO's HTTP/1 form from one socket to the other.
///
/// The pipeline: NIO's HTTP/1 server codec, the fast path, the conversion to HTTP types,
/// Hummingbird's connection state (quiescing, idle timeout), and the router's async channel.
struct GatewayHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let routes: GatewayFastRoutes
    let decoderLimits: NIOHTTPDecoderLimitConfiguration

    init(responder: @escaping HTTPChannelHandler.Responder, routes: GatewayFastRoutes, decoder: HTTP1Channel.Configuration.DecoderConfiguration) {
        self.responder = responder
        self.routes = routes
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = decoder.maxHeaderFieldSize
        limits.maxHeaderListSize = decoder.maxHeaderListSize
        limits.maxHeaderFieldCount = decoder.maxHeaderFieldCount
        self.decoderLimits = limits
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            // As Hummingbird's HTTP/1 channel: requests are taken one at a time by the async
            // channel, errors are answered by the application, and outbound headers come
            // checked (from HTTP types, or from an upstream's parsed answer).
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits
            )
            try pipeline.addHandler(routes.makeChannelHandler())
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// An HTTP/1.1 server whose connections have the gateway's fast path (``GatewayHTTP1Channel``).
    public static func http1(gatewayFastPath routes: GatewayFastRoutes) -> HTTPServerBuilder {
        .init { responder in
            GatewayHTTP1Channel(responder: responder, routes: routes, decoder: .init())
        }
    }
}
