// The fields of a meta `VA <size> f<flags> t<ttl> c<cas> ...` line, as the
// proxy's own `mg <key> s v f t [c]` requests (restore, repair, read-back) get them.

struct MetaValueHeader: Equatable {
    var size = 0
    var flags: UInt32 = 0
    /// Remaining seconds; -1 when the item never expires.
    var ttl = -1
    var cas: UInt64 = 0

    init(size: Int, flags: UInt32 = 0, ttl: Int = -1, cas: UInt64 = 0) {
        self.size = size
        self.flags = flags
        self.ttl = ttl
        self.cas = cas
    }

    init(_ line: UnsafeRawBufferPointer) {
        var tokens = LineTokens()
        guard tokens.next(in: line) != nil, let sizeToken = tokens.next(in: line) else { return }
        size = Int(LineTokens.decimal(line, sizeToken) ?? 0)
        while let token = tokens.next(in: line) {
            let value = ByteRange(start: token.start + 1, count: token.count - 1)
            switch line[token.start] {
            case UInt8(ascii: "f"): flags = UInt32(truncatingIfNeeded: LineTokens.decimal(line, value) ?? 0)
            case UInt8(ascii: "t"): ttl = Int(LineTokens.signedDecimal(line, value) ?? -1)
            case UInt8(ascii: "c"): cas = LineTokens.decimal(line, value) ?? 0
            default: break
            }
        }
    }
}
