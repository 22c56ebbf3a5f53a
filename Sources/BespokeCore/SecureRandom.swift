/// Random bytes from the system's cryptographically secure generator, for secrets, keys, tokens
/// and the ids of stored records. Request, trace and span ids come from ``IDRandom``.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        // Eight bytes per draw: each draw is a system call (getrandom) on Linux.
        var generator = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { out.append(contentsOf: $0) }
        }
        out.removeLast(out.count - count)
        return out
    }

    /// `count` random bytes as lower-case hex (2 characters a byte).
    public static func hex(_ count: Int) -> String {
        lowerCaseHex(bytes(count))
    }
}

/// `bytes` as lower-case hex (2 characters a byte).
func lowerCaseHex(_ bytes: some Collection<UInt8>) -> String {
    String(unsafeUninitializedCapacity: bytes.count * 2) { out in
        for (index, byte) in bytes.enumerated() {
            out[2 * index] = hexDigit(byte >> 4)
            out[2 * index + 1] = hexDigit(byte & 0x0F)
        }
        return bytes.count * 2
    }
}

private func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
}
