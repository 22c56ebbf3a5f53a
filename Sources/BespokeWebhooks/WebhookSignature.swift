import Crypto
public import Foundation

/// Standard Webhooks signatures: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`,
/// sent in the `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.
public enum WebhookSignature {
    public static let idHeader = "webhook-id"
    public static let timestampHeader = "webhook-timestamp"
    public static let signatureHeader = "webhook-signature"

    /// The `v1,...` signature of one message with one secret.
    public static func sign(id: String, timestamp: Int64, body: Data, secret: WebhookSecret) -> String {
        "v1," + authenticationCode(id: id, timestamp: timestamp, body: body, secret: secret).withUnsafeBytes { Data($0) }.base64EncodedString()
    }

    /// The three headers of a message. With several secrets (rotation), the signature header
    /// carries one signature per secret, separated by spaces, and a receiver that knows any of
    /// them accepts it.
    public static func headers(id: String, timestamp: Int64, body: Data, secrets: [WebhookSecret]) -> [(name: String, value: String)] {
        [
            (idHeader, id),
            (timestampHeader, String(timestamp)),
            (signatureHeader, secrets.map { sign(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")),
        ]
    }

    /// Verifies a received message.
    ///
    /// - Parameters:
    ///   - header: looks a header up by lower-case name.
    ///   - secrets: the secrets the receiver accepts (during a rotation, old and new).
    ///   - tolerance: how far the timestamp may be from `now`, either way (replay protection).
    /// - Throws: ``WebhookVerificationError``.
    public static func verify(
        body: Data,
        header: (String) -> String?,
        secrets: [WebhookSecret],
        now: Date = Date(),
        tolerance: TimeInterval = 300
    ) throws(WebhookVerificationError) {
        guard let id = header(idHeader), !id.isEmpty else { throw .missingHeader(idHeader) }
        guard let rawTimestamp = header(timestampHeader) else { throw .missingHeader(timestampHeader) }
        guard let signatures = header(signatureHeader) else { throw .missingHeader(signatureHeader) }
        guard let timestamp = Int64(rawTimestamp) else { throw .invalidTimestamp }
        let age = now.timeIntervalSince1970 - TimeInterval(timestamp)
        if age > tolerance { throw .timestampTooOld }
        if age < -tolerance { throw .timestampTooNew }
        let macs = signatures.split(separator: " ").compactMap { candidate -> Data? in
            guard candidate.hasPrefix("v1,") else { return nil }
            return Data(base64Encoded: String(candidate.dropFirst(3)))
        }
        guard !macs.isEmpty else { throw .noMatchingSignature }
        for secret in secrets {
            let expected = authenticationCode(id: id, timestamp: timestamp, body: body, secret: secret)
            // `==` against bytes compares in constant time.
            if macs.contains(where: { expected == $0 }) { return }
        }
        throw .noMatchingSignature
    }

    /// The HMAC-SHA256 of `id.timestamp.body` with `secret`.
    private static func authenticationCode(id: String, timestamp: Int64, body: Data, secret: WebhookSecret) -> HMAC<SHA256>.MAC {
        var hmac = secret.keyed
        // `id.timestamp.` then the body, fed as two buffers: the body is not copied behind it.
        var prefix: [UInt8] = []
        prefix.reserveCapacity(id.utf8.count + 22)
        prefix.append(contentsOf: id.utf8)
        prefix.append(UInt8(ascii: "."))
        prefix.append(contentsOf: String(timestamp).utf8)
        prefix.append(UInt8(ascii: "."))
        prefix.withUnsafeBytes { hmac.update(data: $0) }
        body.withUnsafeBytes { hmac.update(data: $0) }
        return hmac.finalize()
    }
}

/// Why a webhook message was not accepted.
public enum WebhookVerificationError: Error, Sendable, Equatable {
    case missingHeader(String)
    case invalidTimestamp
    case timestampTooOld
    case timestampTooNew
    /// No `v1` signature matches any of the receiver's secrets.
    case noMatchingSignature
}
