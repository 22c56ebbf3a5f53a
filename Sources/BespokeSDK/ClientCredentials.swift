/// What a tenant's service signs in to the platform with: its OAuth client, created by the
/// tenant's admin (`POST /v1/tenants/{tenant}/clients`, kind `service`).
public struct ClientCredentials: Sendable {
    public var clientID: String
    public var clientSecret: String
    /// The scopes to ask for; nil asks for every scope the client was given.
    public var scopes: [String]?

    public init(clientID: String, clientSecret: String, scopes: [String]? = nil) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.scopes = scopes
    }
}
