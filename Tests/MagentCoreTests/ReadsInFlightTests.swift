// ReadsInFlight: a key is held while any read of it is owed, by reply slot.

import Testing
@testable import MagentCore

@Suite struct ReadsInFlightTests {
    @Test("a key stays in flight until every slot that reads it has left, in order; other slots leave nothing")
    func slotsRelease() {
        var reads = ReadsInFlight()
        let first = SlotHandle(index: 1, generation: 1)
        let second = SlotHandle(index: 2, generation: 1)
        let recycled = SlotHandle(index: 1, generation: 2)
        func has(_ key: String) -> Bool { Array(key.utf8).withUnsafeBytes { reads.contains(key: $0) } }
        #expect(reads.isEmpty && !has("a"))
        Array("a".utf8).withUnsafeBytes { reads.add(key: $0, slot: first) }
        Array("b".utf8).withUnsafeBytes { reads.add(key: $0, slot: first) }
        Array("a".utf8).withUnsafeBytes { reads.add(key: $0, slot: second) }
        #expect(has("a") && has("b") && !has("c"))
        let leftRecycled = reads.slotLeft(recycled)   // same index, another generation: not these reads
        let leftFirst = reads.slotLeft(first)
        #expect(!leftRecycled && leftFirst)
        #expect(has("a") && !has("b"))
        let leftAgain = reads.slotLeft(first)
        let leftSecond = reads.slotLeft(second)
        #expect(!leftAgain && leftSecond)
        #expect(reads.isEmpty && !has("a"))
        Array("a".utf8).withUnsafeBytes { reads.add(key: $0, slot: first) }
        reads.removeAll()
        #expect(reads.isEmpty)
    }

    @Test("a text read's keys are matched whole, one by one; a one-key read matches spaces and all")
    func keysMatchWhole() {
        var reads = ReadsInFlight()
        let slot = SlotHandle(index: 3, generation: 1)
        func has(_ key: [UInt8]) -> Bool { key.withUnsafeBytes { reads.contains(key: $0) } }
        Array("alpha  beta gamma".utf8).withUnsafeBytes { reads.add(keys: $0, slot: slot) }
        Array("with space".utf8).withUnsafeBytes { reads.add(key: $0, slot: slot) }
        let table: [(String, Bool)] = [("alpha", true), ("beta", true), ("gamma", true), ("alph", false), ("gam", false),
                                       ("alpha  beta", false), ("", false), ("with space", true), ("with", false), ("space", false)]
        for (key, expected) in table { #expect(has(Array(key.utf8)) == expected, "\(key)") }
    }
}
