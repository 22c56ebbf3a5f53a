#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Random ids: request ids, trace and span ids.
///
/// The bytes come from the system's secure generator like ``SecureRandom``'s, but are drawn
/// 4 KiB at a time (one read of `/dev/urandom`) into a pool behind a lock, where
/// ``SecureRandom`` makes a system call (getrandom) every eight bytes: several for each request
/// on the gateway's fast path.
/// The ids stay unpredictable, so one tenant cannot learn from its own ids how many were drawn
/// for others in between (a count of everyone's traffic), as a seeded generator's ids would
/// tell. Secrets, keys and tokens still come from ``SecureRandom``, which keeps no bytes
/// in memory.
public enum IDRandom {
    private static let pool = Mutex(RandomPool())

    /// `count` random bytes as lower-case hex (2 characters a byte).
    public static func hex(_ count: Int) -> String {
        precondition(count >= 0, "a negative byte count")
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(count, 1)) { buffer in
            let random = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            pool.withLock { $0.take(into: random) }
            return lowerCaseHex(random)
        }
    }
}

/// Bytes from the system's secure generator, drawn ``size`` at a time and handed out once each.
struct RandomPool {
    static let size = 4096
    private var bytes = [UInt8](repeating: 0, count: size)
    /// The next byte to hand out; ``size`` when the pool is used up.
    private var next = size
    /// How many times the pool was drawn (for tests).
    private(set) var draws = 0

    /// Fills `out` with bytes never handed out before, drawing the pool again as it runs out.
    mutating func take(into out: UnsafeMutableBufferPointer<UInt8>) {
        var filled = 0
        while filled < out.count {
            if next == Self.size { draw() }
            let count = min(out.count - filled, Self.size - next)
            for offset in 0..<count { out[filled + offset] = bytes[next + offset] }
            next += count
            filled += count
        }
    }

    private mutating func draw() {
        bytes.withUnsafeMutableBytes { buffer in
            var filled = 0
            #if canImport(Glibc)
            // The kernel's generator behind getrandom, as a file: one read fills the pool.
            let file = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            if file >= 0 {
                defer { close(file) }
                while filled < buffer.count {
                    let got = read(file, buffer.baseAddress! + filled, buffer.count - filled)
                    if got > 0 {
                        filled += got
                    } else if got == 0 || errno != EINTR {
                        break
                    }
                }
            }
            #elseif canImport(Darwin)
            arc4random_buf(buffer.baseAddress!, buffer.count)
            filled = buffer.count
            #endif
            // Where the bulk call is missing or failed: eight bytes a call (it traps rather than
            // hand out bytes that are not random).
            var system = SystemRandomNumberGenerator()
            while filled < buffer.count {
                withUnsafeBytes(of: system.next() as UInt64) { word in
                    let count = min(word.count, buffer.count - filled)
                    for offset in 0..<count { buffer[filled + offset] = word[offset] }
                    filled += count
                }
            }
        }
        next = 0
        draws += 1
    }
}
