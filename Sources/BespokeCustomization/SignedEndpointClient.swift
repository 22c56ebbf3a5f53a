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
/// webhook with the registration's secrets, within a deadline.
final class SignedEndpointClient: Sendable {
    private let client = Mutex<HTTPClient?>(nil)
    let checks: EndpointChecks

    init(checks: EndpointChecks) {
        self.checks = checks
    }

    /// Opens the client, keeps it until graceful shutdown, then closes it.
    func run(connectTimeout: Duration) async throws {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .milliseconds(connectTimeout.wholeMilliseconds))
        )
        configuration.decompression = .disabled
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.client.withLock { $0 = client }
        try? await gracefulShutdown()
        self.client.withLock { $0 = nil }
        try await client.shutdown()
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
        var request = HTTPClientRequest(url: customization.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        for (name, value) in WebhookSignature.headers(
            id: messageID, timestamp: Int64(Date().timeIntervalSince1970), body: payload, secrets: secrets
        ) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let response = try await client.execute(request, deadline: .now() + .milliseconds(deadline.wholeMilliseconds))
        return (response.status.code, try await response.body.collect(upTo: 256 * 1024))
    }
}
