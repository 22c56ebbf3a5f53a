import Foundation

/// Where a gateway route leads when the gateway's fast path proxies it itself: plain HTTP/1.1
/// to a host and port, under an optional path prefix.
struct UpstreamTarget: Sendable, Hashable {
    /// The route name (`/v1/tenants/{tenant}/{name}/...`), also the scope a caller needs.
    let name: String
    let host: String
    let port: Int
    /// The `Host` header upstream requests carry.
    let authority: String
    /// The base URL's path without its trailing slash (empty for none), put before the request's path.
    let pathPrefix: String

    /// - Returns: nil for a base URL the fast path does not speak (not `http`, no host).
    init?(name: String, base: String) {
        guard let components = URLComponents(string: base), components.scheme?.lowercased() == "http", let host = components.host,
            !host.isEmpty, components.query == nil, components.fragment == nil, components.user == nil
        else { return nil }
        let port = components.port ?? 80
        guard (1...65_535).contains(port) else { return nil }
        self.name = name
        // URLComponents keeps the brackets of an IPv6 literal in `host`; the socket wants them off.
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = port
        self.authority = components.port == nil ? host : "\(host):\(port)"
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.pathPrefix = path
    }
}
