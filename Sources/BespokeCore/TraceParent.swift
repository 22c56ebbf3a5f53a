/// A W3C Trace Context `traceparent` header: `version-traceid-parentid-flags`.
public struct TraceParent: Sendable, Equatable, CustomStringConvertible {
    public let traceID: String
    public let parentID: String
    public let flags: String

    /// Parses a header value; `nil` when it is malformed or uses the all-zero ids the
    /// specification forbids.
    public init?(_ header: String) {
        let parts = header.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4,
            parts[0].count == 2, parts[0] != "ff", Self.isLowerHex(parts[0]),
            parts[1].count == 32, Self.isLowerHex(parts[1]), parts[1].contains(where: { $0 != "0" }),
            parts[2].count == 16, Self.isLowerHex(parts[2]), parts[2].contains(where: { $0 != "0" }),
            parts[3].count == 2, Self.isLowerHex(parts[3])
        else { return nil }
        self.traceID = String(parts[1])
        self.parentID = String(parts[2])
        self.flags = String(parts[3])
    }

    /// A new root trace context with random ids, sampled.
    public static func random() -> TraceParent {
        var generator = SystemRandomNumberGenerator()
        func hex(_ bytes: Int) -> String {
            var out = ""
            for _ in 0..<bytes {
                let byte = UInt8.random(in: 0...255, using: &generator)
                out += String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16)
            }
            return out
        }
        return TraceParent("00-\(hex(16))-\(hex(8))-01")!
    }

    public var description: String { "00-\(traceID)-\(parentID)-\(flags)" }

    private static func isLowerHex(_ s: Substring) -> Bool {
        s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
