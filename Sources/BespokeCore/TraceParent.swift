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
        TraceParent(traceID: nonZeroHex(16), parentID: nonZeroHex(8), flags: "01")
    }

    /// The context of the next hop of this trace: the same trace id and flags, a new span id.
    public func nextHop() -> TraceParent {
        TraceParent(traceID: traceID, parentID: Self.nonZeroHex(8), flags: flags)
    }

    private init(traceID: String, parentID: String, flags: String) {
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// Random lower-case hex of `bytes` bytes, never all zeros (the specification forbids it).
    /// From ``IDRandom``: no system call per id.
    private static func nonZeroHex(_ bytes: Int) -> String {
        while true {
            let hex = IDRandom.hex(bytes)
            if hex.utf8.contains(where: { $0 != UInt8(ascii: "0") }) { return hex }
        }
    }

    /// A fixed, valid value for contexts before their request's trace is known.
    public static let placeholder = TraceParent("00-00000000000000000000000000000001-0000000000000001-00")!

    public var description: String { "00-\(traceID)-\(parentID)-\(flags)" }

    private static func isLowerHex(_ s: Substring) -> Bool {
        s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
