// The backend-side parser: frames a memcached reply of the shape the oldest
// pending request expects, so values stream through without being buffered.
import Glibc

/// What a pending request expects back.
public enum ReplyShape: UInt8, Sendable {
    /// VALUE blocks then END (get, gets, gat, gats).
    case retrieval
    /// One line (storage, incr/decr, delete, touch, flush_all, verbosity, version).
    case line
    /// STAT lines then END.
    case stats
    /// One meta reply: VA with a value, EN, or a status line (HD, NF, NS, EX).
    case meta
    /// A client's own meta command: as `meta`, but EN (which may carry the
    /// client's O and k flags) and ME come as lines, to be passed on.
    case metaClient
}

public enum BackendReplyStep: Sendable, Equatable {
    case needMoreData
    /// A VALUE line of `length` bytes (its \r\n included); its data follows.
    case itemHeader(length: Int)
    /// `count` bytes of the current value; `isLast` when they end it (with its \r\n).
    case itemData(count: Int, isLast: Bool)
    /// END: the reply is complete.
    case end(length: Int)
    /// A STAT line of a stats reply.
    case statLine(length: Int)
    /// A one-line reply of `length` bytes; `isError` for ERROR, CLIENT_ERROR and SERVER_ERROR.
    case line(length: Int, isError: Bool)
    /// Bytes that cannot be a reply to what was asked: the connection is out of sync.
    case protocolError
}

/// Resumable like the request parser: the caller passes the unconsumed input
/// and drops what each step consumed.
public struct BackendReplyParser: Sendable {
    private var scanned = 0
    /// Bytes of the current value still to come, its trailing \r\n included.
    private var dataRemaining = 0

    public init() {}

    public var isInsideValue: Bool { dataRemaining > 0 }

    public mutating func reset() {
        scanned = 0
        dataRemaining = 0
    }

    public mutating func next(_ input: UnsafeRawBufferPointer, shape: ReplyShape) -> BackendReplyStep {
        if dataRemaining > 0 { return nextData(input) }
        guard let base = input.baseAddress, scanned < input.count,
              let found = memchr(base + scanned, 10, input.count - scanned) else {
            if input.count > ProtocolLimits.maxBackendLine + 1 { return .protocolError }
            scanned = input.count
            return .needMoreData
        }
        let newline = base.distance(to: UnsafeRawPointer(found))
        scanned = 0
        if newline > ProtocolLimits.maxBackendLine + 1 { return .protocolError }
        let length = newline + 1
        guard newline > 0, input[newline - 1] == 13 else { return .protocolError }
        let content = UnsafeRawBufferPointer(rebasing: input[0..<(newline - 1)])
        if content.starts(with: "END") && content.count == 3 {
            return shape == .line ? .protocolError : .end(length: length)
        }
        let isError = content.starts(with: "ERROR") || content.starts(with: "CLIENT_ERROR") || content.starts(with: "SERVER_ERROR")
        switch shape {
        case .retrieval:
            if isError { return .line(length: length, isError: true) }
            guard content.starts(with: "VALUE "), let bytes = Self.valueLength(content) else { return .protocolError }
            dataRemaining = bytes + 2
            return .itemHeader(length: length)
        case .stats:
            if isError { return .line(length: length, isError: true) }
            return content.starts(with: "STAT ") ? .statLine(length: length) : .protocolError
        case .line:
            if content.starts(with: "VALUE ") || content.starts(with: "STAT ") || content.isEmpty { return .protocolError }
            if !Self.isKnownLineReply(content) { return .protocolError }
            return .line(length: length, isError: isError)
        case .meta, .metaClient:
            if isError { return .line(length: length, isError: true) }
            if content.starts(with: "VA ") {
                guard let bytes = LineTokens.length(1, of: content) else { return .protocolError }
                dataRemaining = bytes + 2
                return .itemHeader(length: length)
            }
            guard content.count == 2 || (content.count > 2 && content[2] == 32) else { return .protocolError }
            if content.starts(with: "EN") {
                return shape == .meta ? .end(length: length) : .line(length: length, isError: false)
            }
            if content.starts(with: "HD") || content.starts(with: "NF") || content.starts(with: "NS") || content.starts(with: "EX")
                || (shape == .metaClient && content.starts(with: "ME")) {
                return .line(length: length, isError: false)
            }
            return .protocolError
        }
    }

    private mutating func nextData(_ input: UnsafeRawBufferPointer) -> BackendReplyStep {
        if input.isEmpty { return .needMoreData }
        let count = Swift.min(dataRemaining, input.count)
        // The last two bytes of a value must be \r\n, wherever the reads split them.
        if dataRemaining - count < 2 {
            for offset in Swift.max(0, dataRemaining - 2)..<count {
                let expected: UInt8 = dataRemaining - offset == 2 ? 13 : 10
                if input[offset] != expected { return .protocolError }
            }
        }
        dataRemaining -= count
        return .itemData(count: count, isLast: dataRemaining == 0)
    }

    /// The <bytes> field of "VALUE <key> <flags> <bytes> [<cas>]".
    private static func valueLength(_ line: UnsafeRawBufferPointer) -> Int? { LineTokens.length(3, of: line) }
}

extension UnsafeRawBufferPointer {
    /// Whether these bytes begin with `prefix` (ASCII).
    func starts(with prefix: StaticString) -> Bool {
        let length = prefix.utf8CodeUnitCount
        return count >= length && memcmp(baseAddress!, prefix.utf8Start, length) == 0
    }
}
