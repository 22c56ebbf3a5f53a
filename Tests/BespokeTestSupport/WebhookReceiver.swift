import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A real HTTP endpoint on loopback that records every push it receives and answers as told.
public final class WebhookReceiver: Sendable {
    public struct Received: Sendable {
        public let headers: [String: String]
        public let body: Data
        public let receivedAt: ContinuousClock.Instant

        /// The pushed CloudEvent as a dictionary.
        public var event: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        public var eventID: String? { event["id"] as? String }
        public var data: [String: Any] { event["data"] as? [String: Any] ?? [:] }
        public var holdTicket: String? { event["bespokehold"] as? String }
    }

    /// How the receiver answers the n-th push (0-based): a status, an optional delay, headers.
    public typealias Responder = @Sendable (_ index: Int, _ received: Received) async -> (status: Int, headers: [String: String])

    /// How the receiver answers, with a body: for endpoints whose answer the platform reads
    /// (UI extensions).
    public typealias BodyResponder = @Sendable (_ index: Int, _ received: Received) async -> (status: Int, headers: [String: String], body: String)

    private let received = Mutex<[Received]>([])
    private let port = Mutex<Int?>(nil)
    private let task = Mutex<Task<Void, any Error>?>(nil)
    private let responder: BodyResponder

    private init(responder: @escaping BodyResponder) {
        self.responder = responder
    }

    /// Starts a receiver on a free loopback port.
    public static func start(_ responder: @escaping Responder = { _, _ in (204, [:]) }) async throws -> WebhookReceiver {
        try await start(answering: { index, received in
            let (status, headers) = await responder(index, received)
            return (status, headers, "")
        })
    }

    /// Starts a receiver on a free loopback port that answers with bodies.
    public static func start(answering responder: @escaping BodyResponder) async throws -> WebhookReceiver {
        let receiver = WebhookReceiver(responder: responder)
        let router = Router()
        router.post("hook") { request, _ -> Response in
            var request = request
            let buffer = try await request.collectBody(upTo: 1024 * 1024)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let item = Received(headers: headers, body: Data(buffer.readableBytesView), receivedAt: .now)
            let index = receiver.received.withLock { list in
                list.append(item)
                return list.count - 1
            }
            let (status, extra, body) = await receiver.responder(index, item)
            var fields = HTTPFields()
            for (name, value) in extra { fields[HTTPFields.Element.Name(name)!] = value }
            return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: {
                var logger = Logger(label: "webhook-receiver")
                logger.logLevel = .critical
                return logger
            }()
        )
        receiver.task.withLock { $0 = Task { try await app.runService(gracefulShutdownSignals: []) } }
        for await port in stream {
            receiver.port.withLock { $0 = port }
            break
        }
        return receiver
    }

    public var url: String { "http://127.0.0.1:\(port.withLock { $0 } ?? 0)/hook" }

    public var all: [Received] { received.withLock { $0 } }

    /// Waits until at least `count` pushes have arrived; fails after `timeout`.
    @discardableResult
    public func waitFor(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [Received] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let list = all
            if list.count >= count { return list }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ReceiverTimeout(expected: count, got: all.count)
    }

    public func stop() {
        task.withLock { $0?.cancel() }
    }

    public struct ReceiverTimeout: Error, CustomStringConvertible {
        let expected: Int
        let got: Int
        public var description: String { "expected \(expected) pushes, got \(got)" }
    }
}
