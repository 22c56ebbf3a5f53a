@testable import BespokeCore
import Testing

@Suite struct IDRandomTests {
    @Test func generatorFollowsTheReferenceAlgorithm() {
        // The first outputs of the published xoshiro256** code seeded with (1, 2, 3, 4).
        var generator = Xoshiro256StarStar(seed: (1, 2, 3, 4))
        let outputs = (0..<4).map { _ in generator.next() }
        #expect(outputs == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240])
    }

    @Test(arguments: [1, 7, 8, 12, 16])
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
