// The keys the load generator uses and the one value each key always has, so
// that every reply can be checked byte for byte.

struct KeySpace {
    /// "key:<index>"
    let keys: [[UInt8]]
    /// The value of each key (its length depends on the key).
    let values: [[UInt8]]
    /// "VALUE key:<i> 0 <len>\r\n<value>\r\n": what a hit on key i looks like.
    let valueBlocks: [[UInt8]]
    /// "set key:<i> 0 0 <len>\r\n<value>\r\n"
    let setRequests: [[UInt8]]

    init(count: Int, valueMin: Int, valueMax: Int) {
        var keys: [[UInt8]] = []
        var values: [[UInt8]] = []
        var blocks: [[UInt8]] = []
        var sets: [[UInt8]] = []
        for index in 0..<count {
            let key = Array("key:\(index)".utf8)
            var mixed = UInt64(index) &* 0x9E37_79B9_7F4A_7C15
            mixed ^= mixed >> 31
            let length = valueMin + Int(mixed % UInt64(valueMax - valueMin + 1))
            let pattern = Array("\(index)-abcdefghijklmnopqrstuvwxyz0123456789|".utf8)
            let value = (0..<length).map { pattern[$0 % pattern.count] }
            keys.append(key)
            values.append(value)
            blocks.append(Array("VALUE key:\(index) 0 \(length)\r\n".utf8) + value + [13, 10])
            sets.append(Array("set key:\(index) 0 0 \(length)\r\n".utf8) + value + [13, 10])
        }
        self.keys = keys
        self.values = values
        valueBlocks = blocks
        setRequests = sets
    }
}

/// xorshift64*: fast, seeded, good enough for picking keys.
struct FastRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x1234_5678_9ABC_DEF1 : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
