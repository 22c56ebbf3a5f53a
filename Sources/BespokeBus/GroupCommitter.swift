import BespokeCore
import BespokeStorage
import DequeModule
import Logging
import Metrics
import Synchronization

/// Batches the bus's writes from many concurrent callers into shared transactions.
///
/// Callers wait until their writes are committed (publish confirm). Pending work is queued per
/// tenant and batches are filled round-robin, one submission per tenant per turn, so a tenant
/// flooding the bus fills its own queue while another tenant's write joins the very next
/// transaction. `maxBatchWrites` bounds a transaction and so the wait behind one.
///
/// Commits are pipelined with their hand-off: once a transaction is committed, its results go
/// to a hand-off task (the `onCommit` hook, then the callers' confirms, in commit order) and
/// the next transaction starts at once, so a slow hand-off (the scheduler busy) never holds
/// the next commit back. A caller is still confirmed only after the hook has seen its writes.
final class GroupCommitter: Sendable {
    typealias CommitHook = @Sendable ([BusWrite], [BusWriteResult]) async -> Void

    private struct Pending {
        let writes: [BusWrite]
        let continuation: CheckedContinuation<[BusWriteResult], any Error>
    }

    /// A committed batch waiting for its hand-off.
    private struct Committed {
        let batch: [Pending]
        let writes: [BusWrite]
        let results: [BusWriteResult]
    }

    private struct State {
        var queues: [TenantID: Deque<Pending>] = [:]
        /// Tenants with queued work, in round-robin order.
        var turn: Deque<TenantID> = []
        var queued = 0
        var writer: CheckedContinuation<Void, Never>?
        var closed = false
    }

    private let state = Mutex(State())
    private let store: any EventLogStore
    private let maxBatchWrites: Int
    private let onCommit: CommitHook
    private let logger: Logger
    private let batchSize = Recorder(label: "bespoke_bus_commit_batch_writes")
    private let commitTime = Timer(label: "bespoke_bus_commit_duration")
    /// Time spent handing a commit's events to the scheduler (alongside the next commit).
    private let handoffTime = Timer(label: "bespoke_bus_commit_handoff_duration")
    private let failures = Counter(label: "bespoke_bus_commit_failures_total")
    private let committed: AsyncStream<Committed>
    private let committedContinuation: AsyncStream<Committed>.Continuation

    init(store: any EventLogStore, maxBatchWrites: Int, logger: Logger, onCommit: @escaping CommitHook) {
        self.store = store
        self.maxBatchWrites = max(1, maxBatchWrites)
        self.logger = logger
        self.onCommit = onCommit
        (committed, committedContinuation) = AsyncStream.makeStream(of: Committed.self)
    }

    /// Queues writes of one tenant and returns their results once committed.
    /// - Throws: `unavailable` after ``close()``, or the store's error.
    func submit(_ writes: [BusWrite], tenant: TenantID) async throws -> [BusWriteResult] {
        if writes.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let (accepted, writer) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                guard !state.closed else { return (false, nil) }
                if state.queues[tenant] == nil { state.turn.append(tenant) }
                state.queues[tenant, default: []].append(Pending(writes: writes, continuation: continuation))
                state.queued += 1
                let writer = state.writer
                state.writer = nil
                return (true, writer)
            }
            guard accepted else {
                continuation.resume(throwing: BespokeError(.unavailable, "the bus is shutting down"))
                return
            }
            writer?.resume()
        }
    }

    /// Stops accepting writes; ``run()`` commits what is queued and returns.
    func close() {
        let writer = state.withLock { state in
            state.closed = true
            let writer = state.writer
            state.writer = nil
            return writer
        }
        writer?.resume()
    }

    /// The writer loop and the hand-off loop. Returns once closed, drained and handed off.
    func run() async {
        // Not a child task: cancelling the bus must not end the hand-off (iterating a stream
        // ends on cancellation) while committed callers still wait for their confirms.
        let handingOff = Task { await self.handOff() }
        while let batch = await nextBatch() {
            await commit(batch)
        }
        committedContinuation.finish()
        await handingOff.value
    }

    /// Hands committed batches to the hook, then confirms their callers, in commit order.
    private func handOff() async {
        for await done in committed {
            let start = ContinuousClock.now
            await onCommit(done.writes, done.results)
            handoffTime.record(duration: ContinuousClock.now - start)
            var offset = 0
            for pending in done.batch {
                let end = offset + pending.writes.count
                pending.continuation.resume(returning: Array(done.results[offset..<end]))
                offset = end
            }
        }
    }

    /// The next batch to commit, waiting for work; `nil` once closed and drained.
    private func nextBatch() async -> [Pending]? {
        while true {
            enum Next { case batch([Pending]), finished, wait }
            let next: Next = state.withLock { state in
                guard state.queued > 0 else { return state.closed ? .finished : .wait }
                var batch: [Pending] = []
                var writes = 0
                while writes < maxBatchWrites, let tenant = state.turn.popFirst() {
                    guard let pending = state.queues[tenant]?.popFirst() else { continue }
                    batch.append(pending)
                    writes += pending.writes.count
                    state.queued -= 1
                    if state.queues[tenant]?.isEmpty == true {
                        state.queues[tenant] = nil
                    } else {
                        state.turn.append(tenant)
                    }
                }
                return .batch(batch)
            }
            switch next {
            case .batch(let batch): return batch
            case .finished: return nil
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state in
                        if state.queued > 0 || state.closed { return true }
                        state.writer = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    private func commit(_ batch: [Pending]) async {
        let writes = batch.flatMap(\.writes)
        batchSize.record(writes.count)
        let start = ContinuousClock.now
        do {
            // The transaction runs in a task of its own so that cancelling the bus's task does
            // not interrupt it: what was queued is committed (or fails) as a whole.
            let store = self.store
            let results = try await Task { try await store.apply(writes) }.value
            commitTime.record(duration: ContinuousClock.now - start)
            committedContinuation.yield(Committed(batch: batch, writes: writes, results: results))
        } catch {
            failures.increment()
            guard batch.count > 1 else {
                logger.error("bus commit failed", metadata: ["error": "\(error)"])
                batch[0].continuation.resume(throwing: error)
                return
            }
            // One caller's bad write must not fail the others: retry each submission alone.
            for pending in batch { await commit([pending]) }
        }
    }
}
