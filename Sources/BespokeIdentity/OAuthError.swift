/// An OAuth2 error (RFC 6749 §5.2), answered as `{"error": ..., "error_description": ...}`.
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The registered error code (`invalid_request`, `invalid_client`, `invalid_grant`, ...).
    public let code: String
    public let message: String
    /// 400, or 401 for client authentication failures.
    public let status: Int

    public init(_ code: String, _ message: String, status: Int = 400) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { "\(code): \(message)" }

    public static func invalidRequest(_ message: String) -> OAuthError { OAuthError("invalid_request", message) }
    public static func invalidClient(_ message: String = "client authentication failed") -> OAuthError {
        OAuthError("invalid_client", message, status: 401)
    }
    public static func invalidGrant(_ message: String) -> OAuthError { OAuthError("invalid_grant", message) }
    public static func invalidScope(_ message: String) -> OAuthError { OAuthError("invalid_scope", message) }
    public static func unauthorizedClient(_ message: String) -> OAuthError { OAuthError("unauthorized_client", message) }
}
