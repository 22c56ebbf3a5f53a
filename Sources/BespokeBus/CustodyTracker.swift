import BespokeCore
import BespokeStorage
import Foundation
import Synchronization

/// The in-memory side of custody: which tenants have events in custody, the deadlines of held
/// events, and the work commits hand to the bus (pushes to interceptors, holds whose turn came).
final class CustodyTracker: Sendable {
    struct Deadline: Sendable {
        let tenant: TenantID
        let step: Int
        let stage: HoldStage
    }

    private struct State {
        /// Tenants that had an event in custody since start-up: their events are admitted
        /// through the custody checks even with no interceptor left.
        var tenants: Set<TenantID> = []
        var deadlines: [Int64: Deadline] = [:]
    }

    private let state = Mutex(State())
    /// Holds that reached an interceptor and are to be pushed to it.
    let pushes: AsyncStream<Hold>
    private let pushContinuation: AsyncStream<Hold>.Continuation
    /// Waiting holds now at the head of their partition key's queue, to be decided on.
    let turns: AsyncStream<Hold>
    private let turnContinuation: AsyncStream<Hold>.Continuation

    init() {
        (pushes, pushContinuation) = AsyncStream.makeStream(of: Hold.self)
        (turns, turnContinuation) = AsyncStream.makeStream(of: Hold.self)
    }

    func mayHaveCustody(_ tenant: TenantID) -> Bool {
        state.withLock { $0.tenants.contains(tenant) }
    }

    /// Takes note of a hold as stored.
    func track(_ hold: Hold) {
        state.withLock { state in
            state.tenants.insert(hold.tenant)
            if hold.state == .held, let stage = hold.stage {
                state.deadlines[hold.id] = Deadline(tenant: hold.tenant, step: hold.step, stage: stage)
            } else {
                state.deadlines[hold.id] = nil
            }
        }
        if hold.state == .held, hold.pushedAt == nil { pushContinuation.yield(hold) }
    }

    /// Hands a held event to the dispatcher to be pushed again (an endpoint's recovery).
    func repush(_ hold: Hold) {
        pushContinuation.yield(hold)
    }

    /// Ids of the tenant's held events, optionally only those with one interceptor, oldest first.
    func heldHoldIDs(tenant: TenantID, customization: String?) -> [Int64] {
        state.withLock { state in
            state.deadlines.filter { $0.value.tenant == tenant && (customization == nil || $0.value.stage.customization == customization) }
                .keys.sorted()
        }
    }

    /// Forgets everything of a tenant whose data was purged.
    func forget(_ tenant: TenantID) {
        state.withLock { state in
            state.tenants.remove(tenant)
            state.deadlines = state.deadlines.filter { $0.value.tenant != tenant }
        }
    }

    func untrack(_ holdID: Int64) {
        _ = state.withLock { $0.deadlines.removeValue(forKey: holdID) }
    }

    func turnCame(_ hold: Hold) {
        state.withLock { _ = $0.tenants.insert(hold.tenant) }
        turnContinuation.yield(hold)
    }

    /// Held events whose deadline has passed; they are no longer tracked.
    func lapsed(now: Date) -> [(id: Int64, deadline: Deadline)] {
        state.withLock { state in
            let due = state.deadlines.filter { $0.value.stage.deadline <= now }
            for id in due.keys { state.deadlines[id] = nil }
            return due.map { ($0.key, $0.value) }.sorted { $0.id < $1.id }
        }
    }

    func finish() {
        pushContinuation.finish()
        turnContinuation.finish()
    }
}
