import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// An HTTP/1.1 server written on raw bytes and scripted by request path, so that it can
/// misbehave on purpose: answer and close, promise a body and cut it, close without answering,
/// never answer. Reads `Content-Length` bodies; counts the connections it accepted.
struct ScriptedHTTPServer {
    /// What a script can do with the connection of a request, on its event loop.
    struct Reply {
        fileprivate let context: ChannelHandlerContext

        /// Writes `text` as it is.
        func send(_ text: String) {
            context.writeAndFlush(NIOAny(ByteBuffer(string: text)), promise: nil)
        }

        /// Writes `text`, then closes the connection.
        func sendThenClose(_ text: String) {
            let context = self.context
            context.writeAndFlush(NIOAny(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }

        /// Closes the connection without a word.
        func close() {
            context.close(promise: nil)
        }
    }

    /// Answers the request for `path` (with its query, as sent); doing nothing leaves it unanswered.
    typealias Script = @Sendable (_ path: String, _ reply: Reply) -> Void

    final class Accepted: Sendable {
        let count = Atomic<Int>(0)
    }

    let channel: any Channel
    /// Connections accepted.
    let accepted: Accepted
    var port: Int { channel.localAddress?.port ?? 0 }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let script: Script
        private var pending = ""

        init(script: @escaping Script) {
            self.script = script
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            pending += String(buffer: unwrapInboundIn(data))
            while let end = pending.range(of: "\r\n\r\n") {
                let head = String(pending[..<end.lowerBound])
                let length = head.split(separator: "\r\n")
                    .first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                let rest = pending[end.upperBound...]
                guard rest.utf8.count >= length else { return }
                pending = String(rest.dropFirst(length))
                script(head.split(separator: " ").dropFirst().first.map(String.init) ?? "", Reply(context: context))
            }
        }
    }

    static func start(_ script: @escaping Script) async throws -> ScriptedHTTPServer {
        let accepted = Accepted()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                accepted.count.add(1, ordering: .relaxed)
                return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(script: script)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedHTTPServer(channel: channel, accepted: accepted)
    }
}
