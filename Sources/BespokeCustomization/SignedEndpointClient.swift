import AsyncHTTPClient
import BespokeCore
import BespokeStorage
import BespokeWebhooks
import Foundation
import NIOCore
import ServiceLifecycle
import Synchronization

/// The HTTP client of calls the platform makes while a request waits (UI slots, extension
/// points): opened when its service runs, closed at shutdown, and posting JSON signed like a
/// webhook with the registration's secrets, within a deadline. `http` endpoints are called
/// through ``PlainHTTPClient``, `https` ones through AsyncHTTPClient.
final class SignedEndpointClient: Sendable {
    private struct Clients {
        let plain: PlainHTTPClient
        let tls: HTTPClient
    }

    private let client = Mutex<Clients?>(nil)
    let checks: EndpointChecks
    /// The most of an answer read.
    static let maxAnswerBytes = 256 * 1024

    init(checks: EndpointChecks) {
        self.checks = checks
    }

    /// Opens the client, keeps it until graceful shutdown, then closes it.
    func run(connectTimeout: Duration) async throws {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .milliseconds(connectTimeout.wholeMilliseconds))
        )
        configuration.decompression = .disabled
        let clients = Clients(
            plain: PlainHTTPClient(connectTimeout: connectTimeout),
            tls: HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        )
        self.client.withLock { $0 = clients }
        // Until graceful shutdown (or cancellation), closing connections idle past their timeout.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(10))
                clients.plain.closeIdle()
            }
        }
        self.client.withLock { $0 = nil }
        clients.plain.shutdown()
        try await clients.tls.shutdown()
    }

    /// Whether the client is open (the service runs).
    var isOpen: Bool { client.withLock { $0 != nil } }

    /// Posts `payload` to the registration's endpoint, signed, with `headers`.
    /// - Returns: the status and up to 256 KiB of the answer.
    /// - Throws: ``BespokeError`` when the endpoint is refused by the outbound policy,
    ///   `HTTPClientError` on timeouts and transport failures.
    func post(
        _ customization: Customization, payload: Data, messageID: String, headers: [(String, String)], deadline: Duration
    ) async throws -> (status: UInt, body: ByteBuffer) {
        guard let client = client.withLock({ $0 }) else { throw BespokeError(.unavailable, "the platform is shutting down") }
        if let refusal = checks.refusal(for: customization.url) { throw refusal }
        let secrets = customization.activeSecrets(at: Date()).compactMap { try? WebhookSecret($0.secret) }
        var fields = [("content-type", "application/json")] + headers
        fields += WebhookSignature.headers(id: messageID, timestamp: Int64(Date().timeIntervalSince1970), body: payload, secrets: secrets)
        if PlainHTTPClient.isPlainHTTP(customization.url) {
            do {
                let answer = try await client.plain.post(
                    customization.url, headers: fields, body: ByteBuffer(bytes: payload), timeout: deadline, keepingBodyUpTo: Self.maxAnswerBytes
                )
                return (UInt(answer.status), answer.body ?? ByteBuffer())
            } catch PlainHTTPClient.Failure.timedOut {
                // The callers tell timeouts apart by AsyncHTTPClient's errors, for both clients.
                throw HTTPClientError.deadlineExceeded
            } catch PlainHTTPClient.Failure.connectTimeout {
                throw HTTPClientError.connectTimeout
            }
        }
        var request = HTTPClientRequest(url: customization.url)
        request.method = .POST
        for (name, value) in fields { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let response = try await client.tls.execute(request, deadline: .now() + .milliseconds(deadline.wholeMilliseconds))
        return (response.status.code, try await response.body.collect(upTo: Self.maxAnswerBytes))
    }
}
