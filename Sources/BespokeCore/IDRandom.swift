import Synchronization

/// Random ids that must be unique but need not be secret: request ids, trace and span ids.
///
/// A xoshiro256** generator seeded once from the system's secure generator, behind a lock.
/// ``SecureRandom`` makes a system call (getrandom) every eight bytes, several for each id of a
/// request on the gateway's fast path; this makes none. Its output can be predicted from
/// earlier output, so it never makes secrets, keys, tokens or anything a client must not guess:
/// those come from ``SecureRandom``.
public enum IDRandom {
    private static let generator = Mutex(Xoshiro256StarStar())

    /// `count` random bytes as lower-case hex (2 characters a byte).
    public static func hex(_ count: Int) -> String {
        let words = (count + 7) / 8
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: words) { buffer in
            generator.withLock { generator in
                for index in 0..<words { buffer[index] = generator.next() }
            }
            return String(unsafeUninitializedCapacity: count * 2) { out in
                for index in 0..<count {
                    let byte = UInt8(truncatingIfNeeded: buffer[index / 8] >> UInt64(8 * (index % 8)))
                    out[2 * index] = hexDigit(byte >> 4)
                    out[2 * index + 1] = hexDigit(byte & 0x0F)
                }
                return count * 2
            }
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

/// xoshiro256** (Blackman and Vigna): 256 bits of state, period 2^256 - 1.
struct Xoshiro256StarStar: RandomNumberGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeded from the system's secure generator (the state is never all zeros).
    init() {
        var system = SystemRandomNumberGenerator()
        repeat {
            state = (system.next(), system.next(), system.next(), system.next())
        } while state == (0, 0, 0, 0)
    }

    /// Seeded with `seed` (tests); `seed` must not be all zeros.
    init(seed: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(seed != (0, 0, 0, 0), "xoshiro256** needs a state that is not all zeros")
        state = seed
    }

    mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value << bits) | (value >> (64 - bits))
    }
}
