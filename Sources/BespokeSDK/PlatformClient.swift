public import AsyncHTTPClient
public import BespokeCore
import Foundation
import Logging
public import NIOCore
public import NIOHTTP1

/// A tenant service's client of the platform: it signs in with client credentials (and
/// renews its token before it expires), resumes and cancels held events, publishes the
/// tenant's own events, and calls the product's API.
///
/// ```swift
/// let platform = PlatformClient(
///     baseURL: "http://127.0.0.1:8080", tenant: "acme",
///     credentials: ClientCredentials(clientID: id, clientSecret: secret)
/// )
/// try await platform.resume(hold: event.hold!)
/// ```
public struct PlatformClient: Sendable {
    /// The platform's address, without a trailing slash.
    public let baseURL: String
    /// The tenant this service works for; every call is scoped to it.
    public let tenant: String
    private let httpClient: HTTPClient
    private let tokens: AccessTokenCache
    private let timeout: TimeAmount

    /// - Parameters:
    ///   - httpClient: the client to use; by default the process's shared one.
    ///   - timeout: the limit of each call.
    public init(
        baseURL: String, tenant: String, credentials: ClientCredentials, httpClient: HTTPClient = .shared,
        timeout: TimeAmount = .seconds(10)
    ) {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.baseURL = base
        self.tenant = tenant
        self.httpClient = httpClient
        self.timeout = timeout
        self.tokens = AccessTokenCache { [httpClient] in
            try await Self.fetchToken(base: base, credentials: credentials, httpClient: httpClient, timeout: timeout)
        }
    }

    // MARK: Holds

    /// Releases a held event to the product (and the next interceptor), optionally with
    /// changes to the fields the catalog lets interceptors change.
    /// - Parameter hold: the event's `bespokehold` attribute (``ReceivedEvent/hold``).
    public func resume(hold: String, data: [String: JSONValue]? = nil) async throws {
        let body: JSONValue = data.map { .object(["data": .object($0)]) } ?? .object([:])
        _ = try await send(.POST, "/v1/tenants/\(Self.segment(tenant))/holds/\(Self.segment(hold))/resume", json: body)
    }

    /// Drops a held event: the product never sees it.
    public func cancel(hold: String, reason: String? = nil) async throws {
        let body: JSONValue = reason.map { .object(["reason": .string($0)]) } ?? .object([:])
        _ = try await send(.POST, "/v1/tenants/\(Self.segment(tenant))/holds/\(Self.segment(hold))/cancel", json: body)
    }

    // MARK: Events

    /// Publishes one of the tenant's own events; returns once the platform stored it.
    /// Publishing the same `source` and `id` again stores it once.
    public func publish(_ event: CloudEvent) async throws {
        var request = HTTPClientRequest(url: baseURL + "/v1/tenants/\(Self.segment(tenant))/events")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/cloudevents+json")
        request.body = .bytes(ByteBuffer(data: event.encoded()))
        _ = try await authorized(request)
    }

    /// Publishes an event whose `data` is `data`, encoded as JSON.
    public func publish<Payload: Encodable>(
        type: String, id: String, source: String, data: Payload, partitionKey: String? = nil
    ) async throws {
        let json = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(data))
        var event = CloudEvent(id: id, source: source, type: type, data: json)
        event.time = RFC3339.format(Date())
        if let partitionKey { event.extensions[CloudEvent.partitionKeyAttribute] = .string(partitionKey) }
        try await publish(event)
    }

    // MARK: The product's API

    /// Calls the platform's or the product's API with the service's token.
    /// - Parameter path: from the root, e.g. `/v1/tenants/acme/shop/orders/o-1`.
    /// - Returns: the answer's body; a status outside 2xx throws ``PlatformError``.
    @discardableResult
    public func send(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, headers: [(String, String)] = []
    ) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(json)))
        }
        return try await authorized(request)
    }

    /// `GET path`, decoded as `T`.
    public func get<T: Decodable>(_ path: String, as type: T.Type = T.self, headers: [(String, String)] = []) async throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try await send(.GET, path, headers: headers)))
    }

    /// A bearer token for calls this client does not wrap.
    public func accessToken() async throws -> String {
        try await tokens.token()
    }

    // MARK: Plumbing

    /// Sends `request` with the token; a `401` (the token was revoked or its key retired)
    /// fetches a new token and tries once more.
    private func authorized(_ request: HTTPClientRequest) async throws -> [UInt8] {
        var attempt = 0
        while true {
            attempt += 1
            let token = try await tokens.token()
            var request = request
            request.headers.replaceOrAdd(name: "authorization", value: "Bearer \(token)")
            let response = try await httpClient.execute(request, timeout: timeout)
            let body = Array(buffer: try await response.body.collect(upTo: 4 * 1024 * 1024))
            if (200..<300).contains(response.status.code) { return body }
            if response.status == .unauthorized, attempt == 1 {
                await tokens.invalidate(token)
                continue
            }
            throw PlatformError.from(status: Int(response.status.code), body: body)
        }
    }

    private static func fetchToken(
        base: String, credentials: ClientCredentials, httpClient: HTTPClient, timeout: TimeAmount
    ) async throws -> (token: String, lifetime: Duration) {
        struct Answer: Decodable {
            let access_token: String
            let expires_in: Int
        }
        var form = [("grant_type", "client_credentials")]
        if let scopes = credentials.scopes { form.append(("scope", scopes.joined(separator: " "))) }
        let body = form.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: base + "/oauth/token")
        request.method = .POST
        let basic = Data("\(Self.formEncode(credentials.clientID)):\(Self.formEncode(credentials.clientSecret))".utf8).base64EncodedString()
        request.headers.add(name: "authorization", value: "Basic \(basic)")
        request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await httpClient.execute(request, timeout: timeout)
        let bytes = Array(buffer: try await response.body.collect(upTo: 64 * 1024))
        guard response.status == .ok else { throw PlatformError.from(status: Int(response.status.code), body: bytes) }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(bytes))
        return (answer.access_token, .seconds(max(answer.expires_in, 1)))
    }

    /// One path segment, percent-encoded.
    static func segment(_ value: String) -> String {
        var allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    /// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 2.3.1 asks the
    /// same of the client id and secret in the Basic header).
    static func formEncode(_ value: String) -> String {
        var allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        allowed.insert(charactersIn: "-._*")
        return (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value).replacingOccurrences(of: "%20", with: "+")
    }
}
