// The one scanner for the space-separated tokens of a protocol line: request
// keys, meta flags, the fields of VALUE, VA and HD lines. Everything that reads
// a token out of a line (parser, forwarder, repair, merge, refill) uses it.

/// Walks the tokens of `bytes`, tokens being runs of bytes other than space:
/// inside a range (the parser's view: a line's content, its end already
/// found), or from a position to the end of the line (its first CR or LF).
/// Holds no pointer: the bytes are passed to each call, so a scanner can be
/// kept in a value that outlives the buffer pointer it was made for.
public struct LineTokens: Sendable {
    private var position: Int
    private let end: Int
    private let stopsAtLineEnd: Bool

    /// Tokens inside `range`; CR and LF are bytes like any other there.
    public init(range: ByteRange) {
        position = range.start
        end = range.end
        stopsAtLineEnd = false
    }

    /// Tokens from `start` to the end of the line (its CR or LF) or of the bytes.
    public init(from start: Int = 0) {
        position = start
        end = Int.max
        stopsAtLineEnd = true
    }

    /// Where the next call starts looking.
    public var offset: Int { position }

    /// The next token, or nil at the end of the range or line.
    @inline(__always)
    public mutating func next(in bytes: UnsafeRawBufferPointer) -> ByteRange? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let limit = Swift.min(end, bytes.count)
        while position < limit && base[position] == 32 { position += 1 }
        let start = position
        while position < limit {
            let byte = base[position]
            if byte == 32 || (stopsAtLineEnd && (byte == 13 || byte == 10)) { break }
            position += 1
        }
        return position > start ? ByteRange(start: start, count: position - start) : nil
    }

    /// Skips `count` tokens; false if the line ended first.
    public mutating func skip(_ count: Int, in bytes: UnsafeRawBufferPointer) -> Bool {
        for _ in 0..<count where next(in: bytes) == nil { return false }
        return true
    }

    // MARK: - Reading fields of a line

    /// Token `index` (0-based) of `line`.
    public static func token(_ index: Int, of line: UnsafeRawBufferPointer) -> ByteRange? {
        var tokens = LineTokens()
        guard tokens.skip(index, in: line) else { return nil }
        return tokens.next(in: line)
    }

    /// Token `index` of `line` as a decimal number of at most 10 digits (a
    /// length); nil if missing or not a number.
    public static func length(_ index: Int, of line: UnsafeRawBufferPointer) -> Int? {
        guard let token = token(index, of: line), token.count <= 10,
              let value = decimal(line, token) else { return nil }
        return Int(value)
    }

    /// The first token after token 0 that begins with `flag` (a meta flag such
    /// as `f7`, `c42`, `t-1`), without its flag byte; nil when absent.
    public static func flag(_ flag: UInt8, in line: UnsafeRawBufferPointer) -> ByteRange? {
        var tokens = LineTokens()
        _ = tokens.next(in: line)
        while let token = tokens.next(in: line) {
            if line[token.start] == flag { return ByteRange(start: token.start + 1, count: token.count - 1) }
        }
        return nil
    }

    /// The digits of `range` as an unsigned number; nil for an empty range, a
    /// non-digit or an overflow.
    public static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: ByteRange) -> UInt64? {
        guard range.count > 0, range.count <= 20 else { return nil }
        var value: UInt64 = 0
        for index in range.start..<range.end {
            let digit = bytes[index] &- 48
            guard digit < 10 else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(digit))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// A decimal number with an optional leading minus sign.
    public static func signedDecimal(_ bytes: UnsafeRawBufferPointer, _ range: ByteRange) -> Int64? {
        guard range.count > 0 else { return nil }
        if bytes[range.start] == 45 {
            guard let magnitude = decimal(bytes, ByteRange(start: range.start + 1, count: range.count - 1)),
                  magnitude <= UInt64(Int64.max) else { return nil }
            return -Int64(magnitude)
        }
        guard let magnitude = decimal(bytes, range), magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes of `range`.
    @inline(__always)
    subscript(range: ByteRange) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[range.start..<range.end])
    }
}
