#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import GRDB

extension Database.BusyMode {
    /// Waits for a lock another connection holds by retrying in short steps, for at least
    /// `timeout`, then fails with `SQLITE_BUSY`.
    ///
    /// SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25 ms and so on between tries, so a
    /// writer that meets a lock held for 3 ms waits 8 ms, and one held for 14 ms waits 33 ms.
    /// The bus's locks are short (a group commit, the tail of a WAL checkpoint), and a commit
    /// every publisher is waiting on should go on as soon as the lock is free: this mode tries
    /// every 50 µs for the first millisecond, then every 250 µs.
    public static func shortSteps(timeout: Duration) -> Self {
        let fineSteps = 20
        let fine: Int64 = 50
        let coarse: Int64 = 250
        let total = timeout.components.seconds * 1_000_000 + timeout.components.attoseconds / 1_000_000_000_000
        // Rounded up: the steps add up to at least the timeout.
        let coarseSteps = max(0, (total - Int64(fineSteps) * fine + coarse - 1) / coarse)
        return .callback { tries in
            guard tries < fineSteps + Int(coarseSteps) else { return false }
            usleep(UInt32(tries < fineSteps ? fine : coarse))
            return true
        }
    }
}
