@testable import BespokeCustomization
import BespokeStorage
import Synchronization
import Testing

@Suite struct AckCombinerTests {
    private static func receipt(_ id: Int64) -> DeliveryReceipt {
        DeliveryReceipt(id: .stream(id), token: 1)
    }

    @Test func aloneAPushAcksItsOwnReceiptAtOnce() {
        let combiner = AckCombiner()
        #expect(combiner.add(Self.receipt(1)) == [Self.receipt(1)])
        #expect(combiner.next() == [])
        // The turn ended: the next push acks at once again.
        #expect(combiner.add(Self.receipt(2)) == [Self.receipt(2)])
        #expect(combiner.next() == [])
    }

    @Test func pushesEndingDuringAnAckGoWithTheNextOne() {
        let combiner = AckCombiner()
        #expect(combiner.add(Self.receipt(1)) == [Self.receipt(1)])
        // Another push's task is acking: these return at once, handing their receipts over.
        #expect(combiner.add(Self.receipt(2)) == [])
        #expect(combiner.add(Self.receipt(3)) == [])
        #expect(combiner.next() == [Self.receipt(2), Self.receipt(3)])
        #expect(combiner.next() == [])
        #expect(combiner.add(Self.receipt(4)) == [Self.receipt(4)])
    }

    @Test func concurrentPushesAckEveryReceiptExactlyOnce() async {
        let combiner = AckCombiner()
        let log = AckLog()
        await withTaskGroup(of: Void.self) { group in
            for id in 1...2000 {
                group.addTask {
                    var batch = combiner.add(Self.receipt(Int64(id)))
                    while !batch.isEmpty {
                        log.calls.withLock { $0 += 1 }
                        await Task.yield()
                        log.acked.withLock { $0 += batch }
                        batch = combiner.next()
                    }
                }
            }
        }
        let all = log.acked.withLock { $0 }
        #expect(all.count == 2000)
        #expect(Set(all) == Set((1...2000).map { Self.receipt(Int64($0)) }))
        #expect(log.calls.withLock { $0 } <= 2000)
        // Nothing is left behind, and no ack is under way.
        #expect(combiner.add(Self.receipt(9999)) == [Self.receipt(9999)])
    }
}

/// What the concurrent test's acks did.
private final class AckLog: Sendable {
    let acked = Mutex<[DeliveryReceipt]>([])
    let calls = Mutex(0)
}
