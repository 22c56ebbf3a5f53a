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
        // All-zero ids are invalid; 2^-64 odds of drawing one are not worth a retry loop,
        // but the parse below would catch it rather than produce a bad header.
        TraceParent("00-\(SecureRandom.hex(16))-\(SecureRandom.hex(8))-01") ?? random()
    }

    /// A fixed, valid value for contexts before their request's trace is known.
    public static let placeholder = TraceParent("00-00000000000000000000000000000001-0000000000000001-00")!

    public var description: String { "00-\(traceID)-\(parentID)-\(flags)" }

    private static func isLowerHex(_ s: Substring) -> Bool {
        s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
