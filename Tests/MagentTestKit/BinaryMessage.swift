// memcached's binary protocol on the wire: packets encoded and read back,
// for the binary-protocol tests and the defect tests that speak it.
import Testing

/// One binary-protocol packet, request or response.
public struct BinaryMessage: Equatable, Sendable, CustomStringConvertible {
    public var opcode: UInt8
    public var status: UInt16 = 0
    public var opaque: UInt32 = 0
    public var cas: UInt64 = 0
    public var extras: [UInt8] = []
    public var key: [UInt8] = []
    public var value: [UInt8] = []

    public init(opcode: UInt8, status: UInt16 = 0, opaque: UInt32 = 0, cas: UInt64 = 0, extras: [UInt8] = [],
                key: [UInt8] = [], value: [UInt8] = []) {
        self.opcode = opcode
        self.status = status
        self.opaque = opaque
        self.cas = cas
        self.extras = extras
        self.key = key
        self.value = value
    }

    /// The packet's bytes: the 24-byte header, then extras, key and value.
    public func encoded(magic: UInt8 = 0x80) -> [UInt8] {
        var bytes: [UInt8] = [magic, opcode, UInt8(key.count >> 8), UInt8(key.count & 0xff), UInt8(extras.count), 0,
                              UInt8(status >> 8), UInt8(status & 0xff)]
        bytes += Self.be(UInt64(extras.count + key.count + value.count), 4)
        bytes += Self.be(UInt64(opaque), 4)
        bytes += Self.be(cas, 8)
        return bytes + extras + key + value
    }

    /// `value` as `count` big-endian bytes.
    public static func be(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(count - 1 - $0))) }
    }

    /// Big-endian bytes as a number.
    public static func number(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }

    /// Reads one response packet.
    public static func read(from client: TextClient, timeout: Double = 5) throws -> BinaryMessage {
        let header = try client.read(count: 24, timeout: timeout)
        #expect(header[0] == 0x81, "response magic \(header[0])")
        let keyLength = Int(number(header[2..<4]))
        let extrasLength = Int(header[4])
        let bodyLength = Int(number(header[8..<12]))
        let body = bodyLength > 0 ? try client.read(count: bodyLength, timeout: timeout) : []
        return BinaryMessage(opcode: header[1], status: UInt16(number(header[6..<8])), opaque: UInt32(number(header[12..<16])),
                             cas: number(header[16..<24]), extras: Array(body[0..<extrasLength]),
                             key: Array(body[extrasLength..<(extrasLength + keyLength)]),
                             value: Array(body[(extrasLength + keyLength)...]))
    }

    public var description: String {
        "op=\(opcode) status=\(status) opaque=\(opaque) cas=\(cas) extras=\(extras) key=\(escaped(key)) value=\(escaped(value))"
    }

    public static func get(_ key: String, opcode: UInt8 = 0x00, opaque: UInt32 = 0) -> BinaryMessage {
        BinaryMessage(opcode: opcode, opaque: opaque, key: Array(key.utf8))
    }

    public static func store(_ opcode: UInt8, _ key: [UInt8], _ value: String, flags: UInt32 = 0, exptime: UInt32 = 0,
                      cas: UInt64 = 0, opaque: UInt32 = 0) -> BinaryMessage {
        BinaryMessage(opcode: opcode, opaque: opaque, cas: cas, extras: be(UInt64(flags), 4) + be(UInt64(exptime), 4),
                      key: key, value: Array(value.utf8))
    }

    public static func counter(_ opcode: UInt8, _ key: String, delta: UInt64, initial: UInt64, exptime: UInt32, opaque: UInt32 = 0) -> BinaryMessage {
        BinaryMessage(opcode: opcode, opaque: opaque, extras: be(delta, 8) + be(initial, 8) + be(UInt64(exptime), 4), key: Array(key.utf8))
    }
}
