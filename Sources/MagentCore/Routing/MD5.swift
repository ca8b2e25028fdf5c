// MD5 (RFC 1321) over raw bytes, for the ketama continuum and ketama key hashes.
// Runs on the request path, so it keeps its state and padding on the stack.

/// A small, allocation-free MD5. Not for security: ketama placement needs MD5 only because
/// the original magent (and every ketama client) derives its ring points from it.
public struct MD5 {
    /// A 128-bit MD5 digest held as the four little-endian 32-bit words of the final state.
    ///
    /// Word `i` is bytes `4i ..< 4i+4` of the digest read little-endian, which is exactly a
    /// ketama ring point, so no byte shuffling is needed to use it.
    public struct Digest: Sendable, Hashable {
        public let word0: UInt32
        public let word1: UInt32
        public let word2: UInt32
        public let word3: UInt32

        /// Bytes `4 * index ..< 4 * index + 4` of the digest as a little-endian `UInt32`.
        public func word(_ index: Int) -> UInt32 {
            switch index {
            case 0: return word0
            case 1: return word1
            case 2: return word2
            case 3: return word3
            default: preconditionFailure("MD5 digest word index \(index) out of 0...3")
            }
        }

        /// Byte `index` (0 ..< 16) of the digest in its usual printed order.
        public func byte(_ index: Int) -> UInt8 {
            UInt8(truncatingIfNeeded: word(index >> 2) >> UInt32((index & 3) * 8))
        }

        /// The digest as 32 lowercase hex digits, as `md5sum` prints it. Not for the hot path.
        public var hexString: String {
            let digits = Array("0123456789abcdef")
            var text = ""
            text.reserveCapacity(32)
            for index in 0..<16 {
                let value = byte(index)
                text.append(digits[Int(value >> 4)])
                text.append(digits[Int(value & 0x0F)])
            }
            return text
        }
    }

    /// The MD5 digest of `bytes`. Full 64-byte blocks are read straight from the input;
    /// the tail and padding go through one stack buffer of at most two blocks.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var state = State()
        let fullBlockCount = bytes.count / 64
        if let base = bytes.baseAddress {
            for block in 0..<fullBlockCount {
                state.compress(block: base + block * 64)
            }
        }
        let tailStart = fullBlockCount * 64
        let tailCount = bytes.count - tailStart
        // The tail, one 0x80 byte, zeros, then the bit length in 8 bytes: two blocks when
        // fewer than 9 bytes are left after the tail.
        let paddedLength = tailCount < 56 ? 64 : 128
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 8) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            if tailCount > 0 {
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[tailStart...]))
            }
            buffer[tailCount] = 0x80
            let bitLength = UInt64(truncatingIfNeeded: bytes.count) &<< 3
            buffer.storeBytes(of: bitLength.littleEndian, toByteOffset: paddedLength - 8, as: UInt64.self)
            let padded = UnsafeRawPointer(buffer.baseAddress!)
            state.compress(block: padded)
            if paddedLength == 128 {
                state.compress(block: padded + 64)
            }
        }
        return Digest(word0: state.a, word1: state.b, word2: state.c, word3: state.d)
    }

    /// The four chaining words, starting from RFC 1321's initial values.
    struct State {
        var a: UInt32 = 0x6745_2301
        var b: UInt32 = 0xEFCD_AB89
        var c: UInt32 = 0x98BA_DCFE
        var d: UInt32 = 0x1032_5476

        /// Mixes one 64-byte block (any alignment) into the state: RFC 1321's four rounds of
        /// sixteen steps, written out so the constants stay literals.
        mutating func compress(block: UnsafeRawPointer) {
            @inline(__always) func x(_ index: Int) -> UInt32 {
                UInt32(littleEndian: block.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
            }
            @inline(__always) func step(
                _ v: inout UInt32, _ mixed: UInt32, _ w: UInt32, _ word: UInt32, _ constant: UInt32, _ shift: UInt32
            ) {
                let sum = v &+ mixed &+ word &+ constant
                v = w &+ ((sum &<< shift) | (sum &>> (32 - shift)))
            }
            @inline(__always) func f(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { (x & y) | (~x & z) }
            @inline(__always) func g(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { (x & z) | (y & ~z) }
            @inline(__always) func h(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { x ^ y ^ z }
            @inline(__always) func i(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { y ^ (x | ~z) }

            var a = self.a, b = self.b, c = self.c, d = self.d

            // Round 1.
            step(&a, f(b, c, d), b, x(0), 0xD76A_A478, 7)
            step(&d, f(a, b, c), a, x(1), 0xE8C7_B756, 12)
            step(&c, f(d, a, b), d, x(2), 0x2420_70DB, 17)
            step(&b, f(c, d, a), c, x(3), 0xC1BD_CEEE, 22)
            step(&a, f(b, c, d), b, x(4), 0xF57C_0FAF, 7)
            step(&d, f(a, b, c), a, x(5), 0x4787_C62A, 12)
            step(&c, f(d, a, b), d, x(6), 0xA830_4613, 17)
            step(&b, f(c, d, a), c, x(7), 0xFD46_9501, 22)
            step(&a, f(b, c, d), b, x(8), 0x6980_98D8, 7)
            step(&d, f(a, b, c), a, x(9), 0x8B44_F7AF, 12)
            step(&c, f(d, a, b), d, x(10), 0xFFFF_5BB1, 17)
            step(&b, f(c, d, a), c, x(11), 0x895C_D7BE, 22)
            step(&a, f(b, c, d), b, x(12), 0x6B90_1122, 7)
            step(&d, f(a, b, c), a, x(13), 0xFD98_7193, 12)
            step(&c, f(d, a, b), d, x(14), 0xA679_438E, 17)
            step(&b, f(c, d, a), c, x(15), 0x49B4_0821, 22)

            // Round 2.
            step(&a, g(b, c, d), b, x(1), 0xF61E_2562, 5)
            step(&d, g(a, b, c), a, x(6), 0xC040_B340, 9)
            step(&c, g(d, a, b), d, x(11), 0x265E_5A51, 14)
            step(&b, g(c, d, a), c, x(0), 0xE9B6_C7AA, 20)
            step(&a, g(b, c, d), b, x(5), 0xD62F_105D, 5)
            step(&d, g(a, b, c), a, x(10), 0x0244_1453, 9)
            step(&c, g(d, a, b), d, x(15), 0xD8A1_E681, 14)
            step(&b, g(c, d, a), c, x(4), 0xE7D3_FBC8, 20)
            step(&a, g(b, c, d), b, x(9), 0x21E1_CDE6, 5)
            step(&d, g(a, b, c), a, x(14), 0xC337_07D6, 9)
            step(&c, g(d, a, b), d, x(3), 0xF4D5_0D87, 14)
            step(&b, g(c, d, a), c, x(8), 0x455A_14ED, 20)
            step(&a, g(b, c, d), b, x(13), 0xA9E3_E905, 5)
            step(&d, g(a, b, c), a, x(2), 0xFCEF_A3F8, 9)
            step(&c, g(d, a, b), d, x(7), 0x676F_02D9, 14)
            step(&b, g(c, d, a), c, x(12), 0x8D2A_4C8A, 20)

            // Round 3.
            step(&a, h(b, c, d), b, x(5), 0xFFFA_3942, 4)
            step(&d, h(a, b, c), a, x(8), 0x8771_F681, 11)
            step(&c, h(d, a, b), d, x(11), 0x6D9D_6122, 16)
            step(&b, h(c, d, a), c, x(14), 0xFDE5_380C, 23)
            step(&a, h(b, c, d), b, x(1), 0xA4BE_EA44, 4)
            step(&d, h(a, b, c), a, x(4), 0x4BDE_CFA9, 11)
            step(&c, h(d, a, b), d, x(7), 0xF6BB_4B60, 16)
            step(&b, h(c, d, a), c, x(10), 0xBEBF_BC70, 23)
            step(&a, h(b, c, d), b, x(13), 0x289B_7EC6, 4)
            step(&d, h(a, b, c), a, x(0), 0xEAA1_27FA, 11)
            step(&c, h(d, a, b), d, x(3), 0xD4EF_3085, 16)
            step(&b, h(c, d, a), c, x(6), 0x0488_1D05, 23)
            step(&a, h(b, c, d), b, x(9), 0xD9D4_D039, 4)
            step(&d, h(a, b, c), a, x(12), 0xE6DB_99E5, 11)
            step(&c, h(d, a, b), d, x(15), 0x1FA2_7CF8, 16)
            step(&b, h(c, d, a), c, x(2), 0xC4AC_5665, 23)

            // Round 4.
            step(&a, i(b, c, d), b, x(0), 0xF429_2244, 6)
            step(&d, i(a, b, c), a, x(7), 0x432A_FF97, 10)
            step(&c, i(d, a, b), d, x(14), 0xAB94_23A7, 15)
            step(&b, i(c, d, a), c, x(5), 0xFC93_A039, 21)
            step(&a, i(b, c, d), b, x(12), 0x655B_59C3, 6)
            step(&d, i(a, b, c), a, x(3), 0x8F0C_CC92, 10)
            step(&c, i(d, a, b), d, x(10), 0xFFEF_F47D, 15)
            step(&b, i(c, d, a), c, x(1), 0x8584_5DD1, 21)
            step(&a, i(b, c, d), b, x(8), 0x6FA8_7E4F, 6)
            step(&d, i(a, b, c), a, x(15), 0xFE2C_E6E0, 10)
            step(&c, i(d, a, b), d, x(6), 0xA301_4314, 15)
            step(&b, i(c, d, a), c, x(13), 0x4E08_11A1, 21)
            step(&a, i(b, c, d), b, x(4), 0xF753_7E82, 6)
            step(&d, i(a, b, c), a, x(11), 0xBD3A_F235, 10)
            step(&c, i(d, a, b), d, x(2), 0x2AD7_D2BB, 15)
            step(&b, i(c, d, a), c, x(9), 0xEB86_D391, 21)

            self.a &+= a
            self.b &+= b
            self.c &+= c
            self.d &+= d
        }
    }
}
