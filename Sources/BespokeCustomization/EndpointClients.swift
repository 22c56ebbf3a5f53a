import AsyncHTTPClient
import BespokeStorage
import BespokeWebhooks
import Foundation
import NIOCore
import Synchronization

/// The HTTP clients the platform calls tenants' endpoints with: `http` endpoints through the
/// lean ``PlainHTTPClient``, `https` ones through AsyncHTTPClient.
///
/// Both the webhook dispatcher and the synchronous calls (extension points, UI slots) post
/// through ``postSigned(to:messageID:contentType:headers:body:timeout:keepingBodyUpTo:)``, and
/// either client's failures come out as one ``PlainHTTPClient/Failure`` (or
/// `CancellationError`), so callers tell a timeout or a cancellation apart in one way.
struct EndpointClients: Sendable {
    let plain: PlainHTTPClient
    let tls: HTTPClient
    /// Secrets parsed once (their key bytes), by their text: an endpoint is signed for again
    /// and again with the same ones.
    private let secrets = SecretCache()

    init(connectTimeout: Duration) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .milliseconds(connectTimeout.wholeMilliseconds))
        )
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.decompression = .disabled
        plain = PlainHTTPClient(connectTimeout: connectTimeout)
        tls = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Posts `body` to the customization's endpoint with `headers`, signed per Standard Webhooks
    /// with its active secrets (both during a rotation), within `timeout`.
    /// - Parameter keepingBodyUpTo: keep the answer's body, up to that many bytes; otherwise it
    ///   is read and dropped (up to ``PlainHTTPClient/maxResponseBytes``).
    /// - Throws: ``PlainHTTPClient/Failure``, or `CancellationError`.
    func postSigned(
        to customization: Customization, messageID: String, contentType: String, headers: [(String, String)], body: Data,
        timeout: Duration, keepingBodyUpTo: Int? = nil
    ) async throws -> PlainHTTPClient.Answer {
        let secrets = customization.activeSecrets(at: Date()).compactMap { self.secrets.parsed($0.secret) }
        var fields = [("content-type", contentType)] + headers
        fields += WebhookSignature.headers(id: messageID, timestamp: Int64(Date().timeIntervalSince1970), body: body, secrets: secrets)
        let buffer = ByteBuffer(bytes: body)
        if PlainHTTPClient.isPlainHTTP(customization.url) {
            return try await plain.post(customization.url, headers: fields, body: buffer, timeout: timeout, keepingBodyUpTo: keepingBodyUpTo)
        }
        var request = HTTPClientRequest(url: customization.url)
        request.method = .POST
        for (name, value) in fields { request.headers.add(name: name, value: value) }
        request.body = .bytes(buffer)
        do {
            let response = try await tls.execute(request, timeout: .milliseconds(timeout.wholeMilliseconds))
            // Read whole (within bounds), so the connection can be used again.
            let answer: ByteBuffer
            do {
                answer = try await response.body.collect(upTo: keepingBodyUpTo ?? plain.maxResponseBytes)
            } catch is NIOTooManyBytesError {
                throw PlainHTTPClient.Failure.responseTooLarge
            }
            return PlainHTTPClient.Answer(
                status: Int(response.status.code), retryAfter: PlainHTTPClient.retryAfter(response.headers.first(name: "retry-after")),
                body: keepingBodyUpTo == nil ? nil : answer
            )
        } catch let error as HTTPClientError {
            switch error {
            case .cancelled: throw CancellationError()
            case .deadlineExceeded, .readTimeout: throw PlainHTTPClient.Failure.timedOut
            case .connectTimeout: throw PlainHTTPClient.Failure.connectTimeout
            default: throw PlainHTTPClient.Failure.failed("\(error)")
            }
        } catch let error as PlainHTTPClient.Failure {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw PlainHTTPClient.Failure.connectFailed("\(error)")
        }
    }

    /// Closes both clients: idle connections at once, AsyncHTTPClient once its calls end.
    func shutdown() async throws {
        plain.shutdown()
        try await tls.shutdown()
    }
}

/// Parsed webhook secrets by their text, bounded (emptied when full: secrets come and go with
/// endpoints and rotations).
final class SecretCache: Sendable {
    private let parsed = Mutex<[String: WebhookSecret]>([:])
    static let capacity = 4096

    /// Secrets held now (for tests).
    var count: Int { parsed.withLock { $0.count } }

    /// The secret `text` parses to, or nil when it is not one.
    func parsed(_ text: String) -> WebhookSecret? {
        if let known = parsed.withLock({ $0[text] }) { return known }
        guard let secret = try? WebhookSecret(text) else { return nil }
        parsed.withLock { parsed in
            if parsed.count >= Self.capacity { parsed.removeAll() }
            parsed[text] = secret
        }
        return secret
    }
}
