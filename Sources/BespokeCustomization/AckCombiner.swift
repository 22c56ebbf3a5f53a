import BespokeStorage
import Synchronization

/// Gathers the acks of one observer's pushes that end together into one call to the bus.
///
/// The first push to end while no ack is under way acks at once, and then acks whatever the
/// pushes that ended meanwhile left here, until nothing is left; those pushes return without
/// waiting. No ack waits for a push still in flight, so no lease lapses for want of one.
final class AckCombiner: Sendable {
    private struct State {
        var pending: [DeliveryReceipt] = []
        var acking = false
    }

    private let state = Mutex(State())

    /// Adds a push's receipt.
    /// - Returns: the receipts the caller acks now (then it calls ``next()``), or none when
    ///   another push's task is acking and takes this one along.
    func add(_ receipt: DeliveryReceipt) -> [DeliveryReceipt] {
        state.withLock { state in
            state.pending.append(receipt)
            guard !state.acking else { return [] }
            state.acking = true
            defer { state.pending = [] }
            return state.pending
        }
    }

    /// After an ack: the receipts added meanwhile, to ack next; none ends the caller's turn.
    func next() -> [DeliveryReceipt] {
        state.withLock { state in
            guard !state.pending.isEmpty else {
                state.acking = false
                return []
            }
            defer { state.pending = [] }
            return state.pending
        }
    }
}
