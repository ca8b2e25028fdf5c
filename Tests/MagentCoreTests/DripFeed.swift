// Shared helpers for the parser tables: the ways one input is cut into reads (whole,
// a byte at a time, random chunks from MagentTestKit's seeded generator), and a
// connection-like driver.

import MagentTestKit
import Testing

/// How one input is delivered to a parser, as a sequence of reads.
enum Feeding: Sendable, CustomStringConvertible, CustomTestStringConvertible {
    case whole
    case byteAtATime
    /// Random read sizes: mostly small, sometimes up to the whole remaining input.
    case randomChunks(seed: UInt64)
    /// Reads of exactly these sizes (the last one takes whatever is left).
    case pieces([Int])

    static let seeds: [UInt64] = [1, 7, 42, 1234, 0xC0FFEE]
    static let all: [Feeding] = [.whole, .byteAtATime] + seeds.map { .randomChunks(seed: $0) }

    var description: String {
        switch self {
        case .whole: return "whole"
        case .byteAtATime: return "one byte at a time"
        case .randomChunks(let seed): return "random chunks (seed \(seed))"
        case .pieces(let sizes): return "pieces \(sizes)"
        }
    }

    var testDescription: String { description }

    /// The sizes of the reads that deliver `count` bytes (they sum to `count`).
    func readSizes(total count: Int) -> [Int] {
        switch self {
        case .whole:
            return count == 0 ? [] : [count]
        case .byteAtATime:
            return Array(repeating: 1, count: count)
        case .randomChunks(let seed):
            var generator = SeededGenerator(seed: seed)
            var sizes: [Int] = []
            var left = count
            while left > 0 {
                let size: Int
                switch Int.random(in: 0..<10, using: &generator) {
                case 0..<6: size = Int.random(in: 1...8, using: &generator)
                case 6..<9: size = Int.random(in: 1...64, using: &generator)
                default: size = Int.random(in: 1...left, using: &generator)
                }
                let taken = Swift.min(size, left)
                sizes.append(taken)
                left -= taken
            }
            return sizes
        case .pieces(let sizes):
            var result: [Int] = []
            var left = count
            for size in sizes where left > 0 {
                let taken = Swift.min(Swift.max(size, 0), left)
                if taken > 0 { result.append(taken) }
                left -= taken
            }
            if left > 0 { result.append(left) }
            return result
        }
    }

    /// Every way of cutting `count` bytes into two reads.
    static func everyTwoPieceSplit(of count: Int) -> [Feeding] {
        count < 2 ? [] : (1..<count).map { .pieces([$0]) }
    }
}

/// What a parser step asks the driver to do next.
enum DriveAction {
    /// Nothing more can be parsed until more input arrives.
    case waitForInput
    /// Drop this many bytes from the front of the unconsumed input and call again.
    case consumed(Int)
    /// Stop for good (the stream was declared broken, or a check failed).
    case stop
}

/// Feeds `input` to `step` the way a connection does: every read is appended to the
/// unconsumed bytes, `step` is called with all of them until it waits for more input,
/// and whatever a step consumed is dropped. Returns the bytes left unconsumed at the end
/// (0 when the driver stopped). A consumed count of zero or past the unconsumed bytes
/// is reported through `violation` and stops the drive; so does a runaway loop.
@discardableResult
func drive(
    _ input: [UInt8],
    feeding: Feeding,
    violation: (String) -> Void,
    step: (UnsafeRawBufferPointer) -> DriveAction
) -> Int {
    var buffer: [UInt8] = []
    buffer.reserveCapacity(input.count)
    var start = 0
    var position = 0
    var stepsLeft = 4 * input.count + 64  // every step but a wait consumes at least one byte
    for size in feeding.readSizes(total: input.count) {
        buffer.append(contentsOf: input[position..<(position + size)])
        position += size
        while true {
            stepsLeft -= 1
            if stepsLeft < 0 {
                violation("the parser did not settle: too many steps")
                return 0
            }
            let available = buffer.count - start
            let action = buffer.withUnsafeBytes { raw in
                step(UnsafeRawBufferPointer(rebasing: raw[start...]))
            }
            switch action {
            case .waitForInput:
                break
            case .consumed(let count):
                guard count > 0 && count <= available else {
                    violation("consumed \(count) of \(available) available bytes")
                    return 0
                }
                start += count
                continue
            case .stop:
                return 0
            }
            break
        }
    }
    return buffer.count - start
}

/// Bytes shown readably in failure messages: printable ASCII and valid UTF-8 as they are,
/// CR, LF, tab and other bytes escaped.
func visible(_ bytes: some Collection<UInt8>) -> String {
    let text = String(decoding: bytes, as: UTF8.self)
    let roundTrips = Array(text.utf8) == Array(bytes)
    if !roundTrips {
        return bytes.map { byte in
            (32..<127).contains(byte) && byte != 92 ? String(UnicodeScalar(byte)) : "\\x" + hex(byte)
        }.joined()
    }
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\r": result += "\\r"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\\": result += "\\\\"
        default:
            if scalar.value < 32 || scalar.value == 127 {
                result += "\\x" + hex(UInt8(scalar.value))
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result
}

private func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}

/// Shortens long byte strings in test names and messages.
func abbreviated(_ bytes: [UInt8], limit: Int = 80) -> String {
    if bytes.count <= limit { return visible(bytes) }
    return visible(bytes.prefix(limit / 2)) + "…(\(bytes.count) bytes)…" + visible(bytes.suffix(limit / 4))
}
