public import BespokeCore
import Foundation

/// A validated request to the authorization endpoint (`response_type=code` with PKCE S256).
public struct AuthorizationRequest: Sendable, Codable, Equatable {
    public let clientID: String
    public let tenant: TenantID
    public let clientName: String
    public let redirectURI: String
    public let scopes: [String]
    public let state: String?
    public let codeChallenge: String
    public let nonce: String?

    /// `redirectURI` with `parameters` added to its query.
    public func redirect(with parameters: [(String, String)]) -> String {
        Self.url(redirectURI, adding: parameters + (state.map { [("state", $0)] } ?? []))
    }

    static func url(_ base: String, adding parameters: [(String, String)]) -> String {
        guard var components = URLComponents(string: base) else { return base }
        components.queryItems = (components.queryItems ?? []) + parameters.map { URLQueryItem(name: $0.0, value: $0.1) }
        return components.string ?? base
    }
}

/// Why the authorization endpoint cannot go on.
public enum AuthorizationError: Error, Sendable, Equatable {
    /// The client or its redirect URI is unknown: shown to the user, never redirected.
    case page(String)
    /// Anything else: sent back to the client's redirect URI (`error`, `error_description`, `state`).
    case redirect(String)
    /// Wrong username or password: the login page again, with a message.
    case badCredentials
}
