// ByteBuffer and RingBuffer tests: appends, consumes, compaction before growth, decimal
// output, truncation and release; FIFO order across growth and wrap-around.

import MagentTestKit
import Testing
@testable import MagentCore

private func contents(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytes) }

private func append(_ text: String, to buffer: ByteBuffer) {
    bytes(text).withUnsafeBytes { buffer.append($0) }
}

@Suite struct ByteBufferTests {
    @Test("a new buffer is empty and owns no memory")
    func newBuffer() {
        let buffer = ByteBuffer()
        #expect(buffer.isEmpty)
        #expect(buffer.readableCount == 0)
        #expect(buffer.readableBytes.isEmpty)
        #expect(buffer.capacity == 0)
        #expect(buffer.storage == nil)
        #expect(buffer.debugText == "")

        let sized = ByteBuffer(capacity: 100)
        #expect(sized.capacity == 100)
        #expect(sized.isEmpty)
    }

    @Test("appends of every kind land in order")
    func appends() {
        let buffer = ByteBuffer()
        append("get ", to: buffer)
        buffer.append("k1")
        buffer.append(byte: 32)
        buffer.appendZeros(2)
        buffer.appendZeros(0)
        [UInt8]().withUnsafeBytes { buffer.append($0) }
        buffer.append("\r\n")
        #expect(contents(buffer) == bytes("get k1 ") + [0, 0] + bytes("\r\n"))
        #expect(buffer.readableCount == 11)
        #expect(!buffer.isEmpty)

        let other = ByteBuffer()
        other.append("abc")
        other.consume(1)
        buffer.append(contentsOf: other)
        #expect(other.debugText == "bc")
        #expect(buffer.debugText.hasSuffix("\r\nbc"))
    }

    @Test("consume drops from the front and rewinds when everything is read")
    func consume() {
        let buffer = ByteBuffer()
        append("hello world", to: buffer)
        buffer.consume(6)
        #expect(buffer.debugText == "world")
        #expect(buffer.readIndex == 6)
        #expect(buffer.writeIndex == 11)
        buffer.consume(5)
        #expect(buffer.isEmpty)
        #expect(buffer.readIndex == 0)
        #expect(buffer.writeIndex == 0)
        append("again", to: buffer)
        #expect(buffer.debugText == "again")
        buffer.clear()
        #expect(buffer.isEmpty)
        #expect(buffer.readIndex == 0 && buffer.writeIndex == 0)
    }

    @Test("growth doubles from 256 bytes and keeps the contents")
    func growth() {
        let buffer = ByteBuffer()
        append("x", to: buffer)
        #expect(buffer.capacity == 256)
        let big = (0..<300).map { UInt8(truncatingIfNeeded: $0) }
        big.withUnsafeBytes { buffer.append($0) }
        #expect(buffer.capacity == 512)
        #expect(contents(buffer) == bytes("x") + big)
        buffer.reserveWritable(5000)
        #expect(buffer.capacity >= 301 + 5000)
        #expect(buffer.capacity == 8192)
        #expect(contents(buffer) == bytes("x") + big)
    }

    @Test("reserveWritable moves unread bytes to the front before it grows")
    func compaction() {
        let buffer = ByteBuffer()
        let first = (0..<200).map { UInt8($0) }
        first.withUnsafeBytes { buffer.append($0) }
        #expect(buffer.capacity == 256)
        buffer.consume(150)
        buffer.reserveWritable(100)
        #expect(buffer.capacity == 256, "compaction alone made room")
        #expect(buffer.readIndex == 0)
        #expect(buffer.writeIndex == 50)
        #expect(contents(buffer) == Array(first[150...]))
        #expect(buffer.writableTail.count == 206)

        // Room that compaction cannot make: compact, then grow.
        buffer.consume(10)
        buffer.reserveWritable(300)
        #expect(buffer.readIndex == 0)
        #expect(buffer.capacity == 512)
        #expect(contents(buffer) == Array(first[160...]))

        // Enough room already: nothing moves.
        buffer.consume(5)
        buffer.reserveWritable(1)
        #expect(buffer.readIndex == 5)
        #expect(contents(buffer) == Array(first[165...]))
    }

    @Test("writing into writableTail and committing it")
    func writableTail() {
        let buffer = ByteBuffer()
        append("ab", to: buffer)
        buffer.reserveWritable(3)
        let tail = buffer.writableTail
        #expect(tail.count >= 3)
        tail[0] = UInt8(ascii: "c")
        tail[1] = UInt8(ascii: "d")
        buffer.commitWritten(2)
        #expect(buffer.debugText == "abcd")
    }

    @Test("appendDecimal writes integers without a String", arguments: [
        (0, "0"), (7, "7"), (10, "10"), (-1, "-1"), (-42, "-42"), (1_234_567_890, "1234567890"),
        (Int.max, "9223372036854775807"), (Int.min, "-9223372036854775808"),
    ])
    func appendDecimal(_ value: Int, _ text: String) {
        let buffer = ByteBuffer()
        buffer.append("[")
        buffer.appendDecimal(value)
        buffer.append("]")
        #expect(buffer.debugText == "[\(text)]")
    }

    @Test("appendDecimal matches String(describing:) over many values")
    func appendDecimalMatchesSwift() {
        var generator = SeededGenerator(seed: 99)
        let buffer = ByteBuffer()
        for _ in 0..<500 {
            let value = Int(bitPattern: UInt(generator.next())) >> Int.random(in: 0..<64, using: &generator)
            buffer.clear()
            buffer.appendDecimal(value)
            #expect(buffer.debugText == String(value))
        }
    }

    @Test("truncate drops the unread bytes past a count")
    func truncate() {
        let buffer = ByteBuffer()
        append("VALUE k 0 5\r\n", to: buffer)
        buffer.consume(6)
        buffer.truncate(toReadable: 1)
        #expect(buffer.debugText == "k")
        buffer.truncate(toReadable: 1)
        #expect(buffer.debugText == "k")
        buffer.truncate(toReadable: 0)
        #expect(buffer.isEmpty)
        #expect(buffer.readIndex == 0 && buffer.writeIndex == 0)
        append("next", to: buffer)
        #expect(buffer.debugText == "next")
    }

    @Test("releaseStorage gives the memory back, and the buffer still works")
    func releaseStorage() {
        let buffer = ByteBuffer()
        append("some bytes", to: buffer)
        buffer.consume(2)
        buffer.releaseStorage()
        #expect(buffer.storage == nil)
        #expect(buffer.capacity == 0)
        #expect(buffer.isEmpty)
        #expect(buffer.readableBytes.isEmpty)
        buffer.releaseStorage()
        append("fresh", to: buffer)
        #expect(buffer.debugText == "fresh")
        #expect(buffer.capacity == 256)
    }

    @Test("a long run of appends and consumes keeps the bytes in order")
    func streaming() {
        var generator = SeededGenerator(seed: 5)
        let buffer = ByteBuffer()
        var model: [UInt8] = []
        var next: UInt8 = 0
        var peak = 0
        for _ in 0..<2_000 {
            if Bool.random(using: &generator) {
                let count = Int.random(in: 0...700, using: &generator)
                let chunk = (0..<count).map { _ in next &+= 1; return next }
                chunk.withUnsafeBytes { buffer.append($0) }
                model += chunk
                peak = Swift.max(peak, model.count)
            } else if !model.isEmpty {
                let count = Int.random(in: 1...model.count, using: &generator)
                buffer.consume(count)
                model.removeFirst(count)
            }
            #expect(contents(buffer) == model)
            if contents(buffer) != model { break }
        }
        // Growth happens only when compaction cannot make room, and then doubles.
        #expect(buffer.capacity <= Swift.max(256, 2 * peak), "capacity \(buffer.capacity) for at most \(peak) unread bytes")
    }
}

@Suite struct RingBufferTests {
    @Test("a new ring is empty; popFirst on empty gives nil")
    func empty() {
        var ring = RingBuffer<Int>()
        #expect(ring.isEmpty)
        #expect(ring.count == 0)
        #expect(ring.first == nil)
        #expect(ring.popFirst() == nil)
        #expect(ring.popFirst() == nil)
        #expect(ring.isEmpty)
    }

    @Test("elements come out in the order they went in, across growth")
    func fifoAcrossGrowth() {
        var ring = RingBuffer<Int>(initialCapacity: 2)
        for value in 0..<100 { ring.append(value) }
        #expect(ring.count == 100)
        #expect(ring.first == 0)
        var out: [Int] = []
        while let value = ring.popFirst() { out.append(value) }
        #expect(out == Array(0..<100))
        #expect(ring.isEmpty)
    }

    @Test("wrap-around then growth keeps FIFO order")
    func wrapAroundThenGrow() {
        var ring = RingBuffer<String>(initialCapacity: 4)
        ring.append("a"); ring.append("b"); ring.append("c")
        #expect(ring.popFirst() == "a")
        #expect(ring.popFirst() == "b")
        // head is at slot 2: these wrap past the end of the four slots.
        ring.append("d"); ring.append("e"); ring.append("f")
        #expect(ring.count == 4)
        // Full and wrapped: this one forces growth.
        ring.append("g")
        ring.append("h")
        #expect(ring.count == 6)
        var out: [String] = []
        while let value = ring.popFirst() { out.append(value) }
        #expect(out == ["c", "d", "e", "f", "g", "h"])
    }

    @Test("subscript reads and writes by offset from the oldest")
    func subscriptByOffset() {
        var ring = RingBuffer<Int>(initialCapacity: 4)
        for value in [1, 2, 3, 4] { ring.append(value) }
        ring.popFirst()
        ring.popFirst()
        ring.append(5)
        ring.append(6)  // wrapped
        #expect((0..<ring.count).map { ring[$0] } == [3, 4, 5, 6])
        ring[3] = 60
        ring[0] = 30
        #expect(ring.first == 30)
        #expect((0..<ring.count).map { ring[$0] } == [30, 4, 5, 60])
    }

    @Test("modifyFirst changes the oldest element in place")
    func modifyFirst() {
        var ring = RingBuffer<[Int]>()
        ring.append([1])
        ring.append([2])
        ring.modifyFirst { $0.append(10) }
        #expect(ring.first == [1, 10])
        #expect(ring[1] == [2])
        ring.popFirst()
        ring.modifyFirst { $0 = [] }
        #expect(ring.first == [])
        #expect(ring.count == 1)
    }

    @Test("initial capacity rounds up to a power of two")
    func initialCapacity() {
        for requested in [0, 1, 2, 3, 5, 16, 17] {
            var ring = RingBuffer<Int>(initialCapacity: requested)
            for value in 0..<40 { ring.append(value) }
            var out: [Int] = []
            while let value = ring.popFirst() { out.append(value) }
            #expect(out == Array(0..<40), "initial capacity \(requested)")
        }
    }

    @Test("a random mix of appends and pops matches an array", arguments: [UInt64(1), 2, 3])
    func matchesArrayModel(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        var ring = RingBuffer<Int>(initialCapacity: 2)
        var model: [Int] = []
        var next = 0
        for _ in 0..<5_000 {
            if Int.random(in: 0..<5, using: &generator) < 3 {
                ring.append(next)
                model.append(next)
                next += 1
            } else {
                let expected = model.isEmpty ? nil : model.removeFirst()
                #expect(ring.popFirst() == expected)
            }
            #expect(ring.count == model.count)
            #expect(ring.first == model.first)
        }
        #expect((0..<ring.count).map { ring[$0] } == model)
    }
}
