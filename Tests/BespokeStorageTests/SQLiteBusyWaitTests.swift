import BespokeSQLite
import Foundation
import GRDB
import Testing

@Suite("SQLite busy wait")
struct SQLiteBusyWaitTests {
    private func databasePath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-busy-\(UUID().uuidString).sqlite").path
    }

    /// Opens a WAL database with a table, then holds its write lock from another connection for
    /// `hold` while `body` runs. Returns what `body` returned and when the lock was released.
    private func whileLocked<T: Sendable>(
        for hold: Duration, _ body: @escaping @Sendable (String) async throws -> T
    ) async throws -> (T, released: ContinuousClock.Instant) {
        let path = databasePath()
        let holder = try DatabasePool(path: path)
        try await holder.write { db in try db.execute(sql: "CREATE TABLE t (x INTEGER)") }
        let locked = AsyncStream<Void>.makeStream()
        let holding = Task {
            try await holder.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                locked.continuation.yield()
                Thread.sleep(forTimeInterval: hold.seconds)
                // Taken before the lock goes: a writer cannot go on before this.
                let releasing = ContinuousClock.now
                try db.execute(sql: "COMMIT")
                return releasing
            }
        }
        for await _ in locked.stream { break }
        let result = try await body(path)
        return (result, try await holding.value)
    }

    private func writer(_ path: String, timeout: Duration) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .shortSteps(timeout: timeout)
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    /// The handler tries often (SQLite's own sleeps grow to 100 ms) and gives up once the
    /// timeout has passed.
    @Test func triesOftenAndGivesUpAfterTheTimeout() throws {
        guard case .callback(let tryAgain) = Database.BusyMode.shortSteps(timeout: .milliseconds(20)) else {
            Issue.record("not a busy callback")
            return
        }
        let start = ContinuousClock.now
        var tries = 0
        while tryAgain(tries) { tries += 1 }
        #expect(ContinuousClock.now - start >= .milliseconds(20))
        #expect(tries >= 50, "only \(tries) tries in 20 ms")
        #expect(tries < 200)
    }

    /// A writer that meets a held lock goes on soon after it is released, not after the next
    /// of SQLite's growing sleeps (which, for a lock held 240 ms, would come about 88 ms later:
    /// its tries fall at 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228, 328 ms).
    @Test func aWriterGoesOnSoonAfterTheLockIsFree() async throws {
        let (wrote, released) = try await whileLocked(for: .milliseconds(240)) { path in
            let queue = try writer(path, timeout: .seconds(5))
            return try await queue.write { db in
                try db.execute(sql: "INSERT INTO t VALUES (1)")
                return ContinuousClock.now
            }
        }
        #expect(wrote > released)
        // Within about a millisecond when the machine is quiet; the bound leaves a loaded one room.
        #expect(wrote - released < .milliseconds(50), "the writer went on \(wrote - released) after the lock was free")
    }

    /// Past its timeout, a writer gives up with SQLITE_BUSY instead of waiting on.
    @Test func aWriterGivesUpAfterItsTimeout() async throws {
        let (outcome, released) = try await whileLocked(for: .milliseconds(300)) { path in
            let queue = try writer(path, timeout: .milliseconds(20))
            do {
                try await queue.write { db in try db.execute(sql: "INSERT INTO t VALUES (1)") }
                return (error: nil as ResultCode?, at: ContinuousClock.now)
            } catch let error as DatabaseError {
                return (error: error.resultCode, at: ContinuousClock.now)
            }
        }
        #expect(outcome.error == .SQLITE_BUSY)
        #expect(outcome.at < released, "it gave up before the lock was free")
    }
}
