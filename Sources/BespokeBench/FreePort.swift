#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP port nothing listens on now (the kernel's choice), for a process about to
/// be started.
public enum FreePort {
    /// `count` different free ports, none of them in `taken`.
    public static func find(_ count: Int, besides taken: Set<Int>) throws -> [Int] {
        var ports: [Int] = []
        var attempts = 0
        while ports.count < count {
            attempts += 1
            guard attempts < 100 else { throw FreePortError() }
            let port = try find()
            if !taken.contains(port), !ports.contains(port) { ports.append(port) }
        }
        return ports
    }

    public static func find() throws -> Int {
        let found = withLoopbackSocket(port: 0) { descriptor, address, length in
            bind(descriptor, address, length) == 0 && getsockname(descriptor, address, &length) == 0
        }
        guard let (bound, port) = found, bound else { throw FreePortError() }
        return port
    }

    /// Whether something accepts TCP connections on the loopback `port`.
    public static func isListening(_ port: Int) -> Bool {
        withLoopbackSocket(port: port) { descriptor, address, length in connect(descriptor, address, length) == 0 }?.0 ?? false
    }

    /// Runs `body` with a new TCP socket and the IPv4 loopback address of `port`, then closes
    /// the socket. - Returns: what `body` returned and the address's port afterwards; nil
    /// when no socket could be made.
    private static func withLoopbackSocket(
        port: Int, _ body: (Int32, UnsafeMutablePointer<sockaddr>, inout socklen_t) -> Bool
    ) -> (Bool, Int)? {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(descriptor, $0, &length) }
        }
        return (result, Int(UInt16(bigEndian: address.sin_port)))
    }

    struct FreePortError: Error, CustomStringConvertible {
        var description: String { "cannot find a free loopback port" }
    }
}
