// What the proxy needs to know of a meta command's flags to route it: how
// the key is written, whether the client wants quiet replies, and whether the
// write depends on what the server holds. Every other flag passes through.

public struct MetaFlags: Sendable, Equatable {
    /// b: the key is base64-encoded.
    public var base64 = false
    /// q: memcached's quiet mode (the proxy hides what memcached would hide).
    public var quiet = false
    /// C: compare-and-swap.
    public var compareCas = false
    /// I: invalidate (mark stale) instead of a plain write.
    public var invalidate = false
    /// M: the mode character (ms: S E A P R; ma: I D + -), 0 when absent.
    public var mode: UInt8 = 0
    /// T: updates the TTL (mg as touch/gat).
    public var updatesTTL = false
    /// N: creates the item on a miss (mg, ma).
    public var vivify = false

    public init() {}

    /// ms in plain set mode and md without conditions: memcached can apply
    /// them on the backup exactly as on the primary, at the same time.
    public func isPlainWrite(_ command: Command) -> Bool {
        switch command {
        case .metaSet:
            return !compareCas && !invalidate && (mode == 0 || mode == UInt8(ascii: "S") || mode == UInt8(ascii: "s"))
        case .metaDelete:
            return !compareCas && !invalidate
        default:
            return false
        }
    }

    mutating func note(_ flag: UnsafeRawBufferPointer) {
        switch flag[0] {
        case UInt8(ascii: "b"): base64 = true
        case UInt8(ascii: "q"): quiet = true
        case UInt8(ascii: "C"): compareCas = true
        case UInt8(ascii: "I"): invalidate = true
        case UInt8(ascii: "M"): mode = flag.count > 1 ? flag[1] : 1
        case UInt8(ascii: "T"): updatesTTL = true
        case UInt8(ascii: "N"): vivify = true
        default: break
        }
    }
}
