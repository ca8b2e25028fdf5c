// The client-side parser for memcached's binary protocol: frames whole request
// packets (header, extras, key, value), and skips the body of one too large
// to take, so the stream stays in step.

public enum BinaryParseStep: Sendable, Equatable {
    case needMoreData
    /// A complete packet of `length` bytes (header included) at the front.
    case request(BinaryHeader, length: Int)
    /// A packet whose body exceeds the limit: its 24 header bytes are
    /// consumed; answer "Too large." and go on, the body is skipped as
    /// `discarded` steps.
    case tooLarge(BinaryHeader)
    case discarded(count: Int)
    /// Not a request packet (bad magic, lengths that do not add up): answer
    /// and close, the stream cannot be trusted.
    case fatal(BinaryHeader)
}

public struct BinaryRequestParser: Sendable {
    /// The largest body taken whole; memcached's default item limit is 1 MiB.
    public static let maxBodyLength = 16 * 1024 * 1024

    private var discardRemaining = 0

    public init() {}

    /// The body of a packet too large to take is being skipped.
    public var isDiscarding: Bool { discardRemaining > 0 }

    public mutating func next(_ input: UnsafeRawBufferPointer) -> BinaryParseStep {
        if discardRemaining > 0 {
            if input.isEmpty { return .needMoreData }
            let count = Swift.min(discardRemaining, input.count)
            discardRemaining -= count
            return .discarded(count: count)
        }
        guard input.count >= BinaryHeader.size else { return .needMoreData }
        let header = BinaryHeader(parsing: input)
        guard header.magic == BinaryHeader.requestMagic, header.keyLength + header.extrasLength <= header.bodyLength else {
            return .fatal(header)
        }
        if header.bodyLength > Self.maxBodyLength {
            discardRemaining = header.bodyLength
            return .tooLarge(header)
        }
        let length = BinaryHeader.size + header.bodyLength
        guard input.count >= length else { return .needMoreData }
        return .request(header, length: length)
    }
}
