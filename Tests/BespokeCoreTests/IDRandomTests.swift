@testable import BespokeCore
import Testing

@Suite struct IDRandomTests {
    @Test(arguments: [0, 1, 7, 8, 12, 16, 5000])
    func hexHasTwoLowerCaseDigitsPerByte(bytes: Int) {
        let hex = IDRandom.hex(bytes)
        #expect(hex.utf8.count == 2 * bytes)
        #expect(hex.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
    }

    @Test func idsDoNotRepeat() {
        let ids = (0..<20_000).map { _ in IDRandom.hex(8) }
        #expect(Set(ids).count == ids.count)
        // Every hex digit shows up in every position: the bytes are spread, not stuck.
        for position in 0..<16 {
            let digits = Set(ids.map { $0.utf8[$0.utf8.index($0.utf8.startIndex, offsetBy: position)] })
            #expect(digits.count == 16, "position \(position)")
        }
    }

    @Test func thePoolIsDrawnAgainAsItRunsOutAndNeverHandsOutAByteTwice() {
        var pool = RandomPool()
        #expect(pool.draws == 0)
        // 24 bytes at a time (a request's ids), across several draws of the pool; a chunk that
        // straddles two draws is filled from both.
        var chunks: [[UInt8]] = []
        for _ in 0..<1000 {
            var chunk = [UInt8](repeating: 0, count: 24)
            chunk.withUnsafeMutableBufferPointer { pool.take(into: $0) }
            chunks.append(chunk)
        }
        #expect(pool.draws == (1000 * 24 + RandomPool.size - 1) / RandomPool.size)
        #expect(Set(chunks).count == chunks.count)
        // More than a pool at once.
        var large = [UInt8](repeating: 0, count: 3 * RandomPool.size + 5)
        large.withUnsafeMutableBufferPointer { pool.take(into: $0) }
        #expect(large.filter { $0 == 0 }.count < large.count / 64)
        let pieces = stride(from: 0, to: large.count - 24, by: 24).map { Array(large[$0..<$0 + 24]) }
        #expect(Set(pieces).count == pieces.count)
    }

    @Test func traceParentsAreFreshAndWellFormed() {
        let first = TraceParent.random()
        let second = TraceParent.random()
        #expect(first.traceID != second.traceID)
        #expect(TraceParent(first.description) == first)
        let hop = first.nextHop()
        #expect(hop.traceID == first.traceID)
        #expect(hop.parentID != first.parentID)
    }
}
