/// An error answered by the platform's API: its HTTP status and the platform's stable error code.
public struct PlatformError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status code.
    public let status: Int
    /// The platform's error code (`not_found`, `stale_hold`, `rate_limited`...), or
    /// `http_<status>` when the answer carried none.
    public let code: String
    public let message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// Reads the platform's `{"error": {"code", "message"}}` body (OAuth errors use
    /// `{"error", "error_description"}`).
    static func from(status: Int, body: [UInt8]) -> PlatformError {
        struct Envelope: Decodable {
            struct Detail: Decodable { let code: String; let message: String }
            let error: Detail
        }
        struct OAuth: Decodable { let error: String; let error_description: String? }
        if let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(body)) {
            return PlatformError(status: status, code: envelope.error.code, message: envelope.error.message)
        }
        if let oauth = try? JSONDecoder().decode(OAuth.self, from: Data(body)) {
            return PlatformError(status: status, code: oauth.error, message: oauth.error_description ?? oauth.error)
        }
        return PlatformError(status: status, code: "http_\(status)", message: String(decoding: body.prefix(500), as: UTF8.self))
    }
}

import Foundation
