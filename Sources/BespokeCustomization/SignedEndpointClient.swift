import BespokeCore
import BespokeStorage
import Foundation
import NIOCore
import ServiceLifecycle
import Synchronization

/// The HTTP client of calls the platform makes while a request waits (UI slots, extension
/// points): opened when its service runs, closed at shutdown, and posting JSON signed like a
/// webhook with the registration's secrets, within a deadline (``EndpointClients``).
final class SignedEndpointClient: Sendable {
    private let client = Mutex<EndpointClients?>(nil)
    let checks: EndpointChecks
    /// The most of an answer read.
    static let maxAnswerBytes = 256 * 1024

    init(checks: EndpointChecks) {
        self.checks = checks
    }

    /// Opens the client, keeps it until graceful shutdown, then closes it.
    func run(connectTimeout: Duration) async throws {
        let clients = EndpointClients(connectTimeout: connectTimeout)
        self.client.withLock { $0 = clients }
        // Until graceful shutdown (or cancellation), closing connections idle past their timeout.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(10))
                clients.plain.closeIdle()
            }
        }
        self.client.withLock { $0 = nil }
        try await clients.shutdown()
    }

    /// Whether the client is open (the service runs).
    var isOpen: Bool { client.withLock { $0 != nil } }

    /// Posts `payload` to the registration's endpoint, signed, with `headers`.
    /// - Returns: the status and up to 256 KiB of the answer.
    /// - Throws: ``BespokeError`` when the endpoint is refused by the outbound policy or the
    ///   platform is stopping, ``PlainHTTPClient/Failure`` on timeouts and transport failures,
    ///   `CancellationError`.
    func post(
        _ customization: Customization, payload: Data, messageID: String, headers: [(String, String)], deadline: Duration
    ) async throws -> (status: UInt, body: ByteBuffer) {
        guard let client = client.withLock({ $0 }) else { throw BespokeError(.unavailable, "the platform is shutting down") }
        if let refusal = checks.refusal(for: customization.url) { throw refusal }
        let answer = try await client.postSigned(
            to: customization, messageID: messageID, contentType: "application/json", headers: headers, body: payload,
            timeout: deadline, keepingBodyUpTo: Self.maxAnswerBytes
        )
        return (UInt(answer.status), answer.body ?? ByteBuffer())
    }
}
