public import BespokeCore
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which addresses the platform may send tenants' pushes to (SSRF control).
///
/// An endpoint URL must be http or https, and every address its host resolves to must be
/// public, unless the operator allows loopback (the demo does) or private networks.
public struct OutboundPolicy: Sendable {
    public var allowLoopback: Bool
    public var allowPrivateNetworks: Bool

    public init(allowLoopback: Bool = false, allowPrivateNetworks: Bool = false) {
        self.allowLoopback = allowLoopback
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    /// The kinds of address that are not on the public internet.
    public enum AddressKind: String, Sendable {
        case loopback, privateNetwork = "private", linkLocal = "link-local", unspecified, `public`
    }

    /// Checks an endpoint URL. - Throws: ``BespokeError`` `forbidden_endpoint` with the reason.
    @discardableResult
    public func check(_ text: String) throws(BespokeError) -> URL {
        guard text.utf8.count <= 2048, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            throw BespokeError(.forbiddenEndpoint, "the endpoint must be an absolute http or https URL of at most 2048 characters")
        }
        guard url.user == nil, url.password == nil else {
            throw BespokeError(.forbiddenEndpoint, "the endpoint URL must not carry credentials")
        }
        let addresses = Self.resolve(host)
        guard !addresses.isEmpty else { throw BespokeError(.forbiddenEndpoint, "the endpoint host '\(host)' does not resolve") }
        for address in addresses {
            switch address.kind {
            case .public: continue
            case .loopback where allowLoopback: continue
            case .privateNetwork where allowPrivateNetworks: continue
            default:
                throw BespokeError(
                    .forbiddenEndpoint,
                    "the endpoint host '\(host)' resolves to \(address.text), a \(address.kind.rawValue) address, which this platform does not push to"
                )
            }
        }
        return url
    }

    /// The addresses `host` resolves to, with their kinds.
    static func resolve(_ host: String) -> [(text: String, kind: AddressKind)] {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(bare, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(list) }
        var found: [(String, AddressKind)] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr {
                if info.pointee.ai_family == AF_INET {
                    let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) }
                    }
                    found.append((bytes.map(String.init).joined(separator: "."), kind(ipv4: bytes)))
                } else if info.pointee.ai_family == AF_INET6 {
                    let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) }
                    }
                    found.append((stride(from: 0, to: 16, by: 2).map { String(format: "%x", Int(bytes[$0]) << 8 | Int(bytes[$0 + 1])) }
                        .joined(separator: ":"), kind(ipv6: bytes)))
                }
            }
            cursor = info.pointee.ai_next
        }
        return found
    }

    static func kind(ipv4 b: [UInt8]) -> AddressKind {
        switch (b[0], b[1]) {
        case (127, _): .loopback
        case (0, _): .unspecified
        case (10, _), (172, 16...31), (192, 168), (100, 64...127): .privateNetwork
        case (169, 254): .linkLocal
        default: .public
        }
    }

    static func kind(ipv6 b: [UInt8]) -> AddressKind {
        if b[0..<15].allSatisfy({ $0 == 0 }) { return b[15] == 1 ? .loopback : .unspecified }
        if b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xFF, b[11] == 0xFF { return kind(ipv4: Array(b[12..<16])) }
        if b[0] & 0xFE == 0xFC { return .privateNetwork }
        if b[0] == 0xFE, b[1] & 0xC0 == 0x80 { return .linkLocal }
        return .public
    }
}
