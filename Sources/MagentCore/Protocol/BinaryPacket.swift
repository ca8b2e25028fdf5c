// memcached's binary protocol on the wire: the 24-byte header, the opcodes
// and status codes the proxy speaks, and the response packets it writes.

/// Request and response opcodes (memcached's protocol_binary.h numbering).
public enum BinaryOpcode: UInt8, Sendable {
    case get = 0x00, set = 0x01, add = 0x02, replace = 0x03, delete = 0x04
    case increment = 0x05, decrement = 0x06, quit = 0x07, flush = 0x08, getq = 0x09
    case noop = 0x0a, version = 0x0b, getk = 0x0c, getkq = 0x0d, append = 0x0e, prepend = 0x0f
    case stat = 0x10, setq = 0x11, addq = 0x12, replaceq = 0x13, deleteq = 0x14
    case incrementq = 0x15, decrementq = 0x16, quitq = 0x17, flushq = 0x18, appendq = 0x19, prependq = 0x1a
    case verbosity = 0x1b, touch = 0x1c, gat = 0x1d, gatq = 0x1e, gatk = 0x23, gatkq = 0x24

    /// The quiet forms answer only on error (get forms: only on a hit).
    public var isQuiet: Bool {
        switch self {
        case .getq, .getkq, .setq, .addq, .replaceq, .deleteq, .incrementq, .decrementq, .quitq, .flushq,
             .appendq, .prependq, .gatq, .gatkq:
            return true
        default:
            return false
        }
    }

    /// get/getk/gat/gatk and their quiet forms: answered with flags and value.
    public var isRetrieval: Bool {
        switch self {
        case .get, .getq, .getk, .getkq, .gat, .gatq, .gatk, .gatkq: return true
        default: return false
        }
    }

    /// The response carries the key (getk, getkq, gatk, gatkq).
    public var returnsKey: Bool { self == .getk || self == .getkq || self == .gatk || self == .gatkq }
}

public enum BinaryStatus: UInt16, Sendable {
    case success = 0x00
    case keyNotFound = 0x01
    case keyExists = 0x02
    case valueTooLarge = 0x03
    case invalidArguments = 0x04
    case itemNotStored = 0x05
    case nonNumericValue = 0x06
    case unknownCommand = 0x81
    case outOfMemory = 0x82
    case notSupported = 0x83
    case internalError = 0x84
    case temporaryFailure = 0x86

    /// The body text memcached sends with the status.
    public var message: StaticString {
        switch self {
        case .success: return ""
        case .keyNotFound: return "Not found"
        case .keyExists: return "Data exists for key."
        case .valueTooLarge: return "Too large."
        case .invalidArguments: return "Invalid arguments"
        case .itemNotStored: return "Not stored."
        case .nonNumericValue: return "Non-numeric server-side value for incr or decr"
        case .unknownCommand: return "Unknown command"
        case .outOfMemory: return "Out of memory"
        case .notSupported: return "Not supported"
        case .internalError: return "Internal error"
        case .temporaryFailure: return "Temporary failure"
        }
    }
}

/// The fixed header of every packet (big-endian fields).
public struct BinaryHeader: Sendable, Equatable {
    public static let size = 24
    public static let requestMagic: UInt8 = 0x80
    public static let responseMagic: UInt8 = 0x81

    public var magic: UInt8 = requestMagic
    public var opcode: UInt8 = 0
    public var keyLength = 0
    public var extrasLength = 0
    /// Requests: the vbucket; responses: the status.
    public var statusOrVbucket: UInt16 = 0
    public var bodyLength = 0
    public var opaque: UInt32 = 0
    public var cas: UInt64 = 0

    public init() {}

    /// Reads the header at the start of `bytes` (at least 24 of them).
    public init(parsing bytes: UnsafeRawBufferPointer) {
        magic = bytes[0]
        opcode = bytes[1]
        keyLength = Int(Self.uint16(bytes, at: 2))
        extrasLength = Int(bytes[4])
        statusOrVbucket = Self.uint16(bytes, at: 6)
        bodyLength = Int(Self.uint32(bytes, at: 8))
        opaque = Self.uint32(bytes, at: 12)
        cas = UInt64(Self.uint32(bytes, at: 16)) << 32 | UInt64(Self.uint32(bytes, at: 20))
    }

    public var valueLength: Int { bodyLength - keyLength - extrasLength }

    static func uint16(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    static func uint32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    static func uint64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        UInt64(uint32(bytes, at: offset)) << 32 | UInt64(uint32(bytes, at: offset + 4))
    }
}

/// Writes response packets.
public enum BinaryResponse {
    public static func appendHeader(to output: ByteBuffer, opcode: UInt8, status: BinaryStatus, opaque: UInt32,
                                    cas: UInt64 = 0, keyLength: Int = 0, extrasLength: Int = 0, bodyLength: Int = 0) {
        output.append(byte: BinaryHeader.responseMagic)
        output.append(byte: opcode)
        appendUInt16(UInt16(keyLength), to: output)
        output.append(byte: UInt8(extrasLength))
        output.append(byte: 0)  // data type
        appendUInt16(status.rawValue, to: output)
        appendUInt32(UInt32(bodyLength), to: output)
        appendUInt32(opaque, to: output)
        appendUInt64(cas, to: output)
    }

    /// A response with no extras or key: success, or an error with its
    /// message (memcached's, unless `message` says more).
    public static func appendStatus(to output: ByteBuffer, opcode: UInt8, status: BinaryStatus, opaque: UInt32, cas: UInt64 = 0,
                                    message: StaticString? = nil) {
        let message = message ?? status.message
        appendHeader(to: output, opcode: opcode, status: status, opaque: opaque, cas: cas, bodyLength: message.utf8CodeUnitCount)
        output.append(message)
    }

    /// A response with a value and nothing else (version, stat pairs use the key too).
    public static func appendValue(to output: ByteBuffer, opcode: UInt8, opaque: UInt32, key: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                                   value: UnsafeRawBufferPointer, cas: UInt64 = 0) {
        appendHeader(to: output, opcode: opcode, status: .success, opaque: opaque, cas: cas,
                     keyLength: key.count, bodyLength: key.count + value.count)
        output.append(key)
        output.append(value)
    }

    public static func appendUInt16(_ value: UInt16, to output: ByteBuffer) {
        output.append(byte: UInt8(value >> 8))
        output.append(byte: UInt8(value & 0xff))
    }

    public static func appendUInt32(_ value: UInt32, to output: ByteBuffer) {
        appendUInt16(UInt16(value >> 16), to: output)
        appendUInt16(UInt16(value & 0xffff), to: output)
    }

    public static func appendUInt64(_ value: UInt64, to output: ByteBuffer) {
        appendUInt32(UInt32(value >> 32), to: output)
        appendUInt32(UInt32(value & 0xffff_ffff), to: output)
    }
}
