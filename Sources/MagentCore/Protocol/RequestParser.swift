// The client-side parser: finds command lines, validates them the way memcached
// does, and frames the data blocks that follow storage commands.
import Glibc

/// What the parser found at the front of the input.
public enum ParseStep: Sendable, Equatable {
    /// Nothing can be consumed until more bytes arrive.
    case needMoreData
    /// A complete, valid command line of `request.lineLength` bytes.
    case request(ParsedRequest)
    /// `count` bytes of the current data block, to be forwarded; `isLast` when
    /// they end the block (its closing \r\n included).
    case data(count: Int, isLast: Bool)
    /// `count` bytes of the data block of a refused storage command, dropped.
    case discarded(count: Int)
    /// A bad command line of `consumed` bytes: reply with the error and go on.
    case invalid(ClientError, consumed: Int)
    /// The stream cannot be re-synchronised: reply with the error and close.
    case fatal(ClientError)
}

/// Resumable: the scan position of an unfinished line and the bytes left of a
/// data block live here, so input split anywhere parses the same as whole.
/// The caller passes the unconsumed input each time and drops what a step says
/// was consumed (`lineLength`, `count`, `consumed`).
public struct RequestParser: Sendable {
    enum State: Sendable, Equatable {
        case line(scanned: Int)
        case data(remaining: Int, discard: Bool)
    }

    private(set) var state: State = .line(scanned: 0)
    /// Accept keys with control bytes other than NUL, CR and LF, as memcached
    /// itself does (--allow-control-keys); by default they are refused, as
    /// memcached's protocol says keys must not contain them.
    let allowControlKeys: Bool
    /// Longer data blocks are refused and skipped (--max-value-size).
    let maxValueLength: Int

    public init(allowControlKeys: Bool = false, maxValueLength: Int = Int(Int32.max) - 2) {
        self.allowControlKeys = allowControlKeys
        self.maxValueLength = maxValueLength
    }

    /// True while a data block is being passed through.
    public var isInDataBlock: Bool {
        if case .data = state { return true }
        return false
    }

    /// Bytes of the current data block not yet seen (0 outside a block).
    public var dataRemaining: Int {
        if case .data(let remaining, _) = state { return remaining }
        return 0
    }

    public mutating func next(_ input: UnsafeRawBufferPointer) -> ParseStep {
        switch state {
        case .data(let remaining, let discard):
            if input.isEmpty { return .needMoreData }
            let count = Swift.min(remaining, input.count)
            let left = remaining - count
            state = left == 0 ? .line(scanned: 0) : .data(remaining: left, discard: discard)
            return discard ? .discarded(count: count) : .data(count: count, isLast: left == 0)
        case .line(let scanned):
            if scanned == 0, let first = input.first, first == 0x80 {
                // A binary-protocol request: it has no line end to wait for.
                return .fatal(.binaryProtocol)
            }
            guard let newline = Self.findNewline(input, from: scanned) else {
                // The last byte may be the \r of the line end: it does not count.
                if input.count > ProtocolLimits.maxCommandLine + 1 && input.count > lineLimit(input) + 1 {
                    return .fatal(.lineTooLong)
                }
                state = .line(scanned: input.count)
                return .needMoreData
            }
            state = .line(scanned: 0)
            let contentEnd = newline > 0 && input[newline - 1] == 13 ? newline - 1 : newline
            if contentEnd > ProtocolLimits.maxCommandLine && contentEnd > lineLimit(input) {
                return .fatal(.lineTooLong)
            }
            return parseLine(input, contentEnd: contentEnd, lineLength: newline + 1)
        }
    }

    /// Retrieval lines may be far longer than other command lines.
    private func lineLimit(_ input: UnsafeRawBufferPointer) -> Int {
        Self.startsWithRetrievalVerb(input) ? ProtocolLimits.maxRetrievalLine : ProtocolLimits.maxCommandLine
    }

    private static func findNewline(_ input: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard start < input.count, let base = input.baseAddress else { return nil }
        guard let found = memchr(base + start, 10, input.count - start) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    private static func startsWithRetrievalVerb(_ input: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        while index < input.count && input[index] == 32 { index += 1 }
        var end = index
        while end < input.count && end - index < 5 && input[end] != 32 { end += 1 }
        guard end < input.count, input[end] == 32 else { return false }
        return Command.match(UnsafeRawBufferPointer(rebasing: input[index..<end]))?.isRetrieval ?? false
    }

    // MARK: - Command lines

    /// Up to this many tokens are kept for non-retrieval commands (cas has 7).
    private static let maxTokens = 8

    private mutating func parseLine(_ input: UnsafeRawBufferPointer, contentEnd: Int, lineLength: Int) -> ParseStep {
        withUnsafeTemporaryAllocation(of: ByteRange.self, capacity: Self.maxTokens) { tokens in
            var count = 0
            var overflow = false
            var scanner = LineTokens(range: ByteRange(start: 0, count: contentEnd))
            while let token = scanner.next(in: input) {
                if count < Self.maxTokens {
                    tokens[count] = token
                    count += 1
                } else {
                    overflow = true
                    break
                }
            }
            guard count > 0,
                  let command = Command.match(UnsafeRawBufferPointer(rebasing: input[tokens[0].start..<tokens[0].end]))
            else { return .invalid(.unknownCommand, consumed: lineLength) }

            var request = ParsedRequest(command: command, lineLength: lineLength)
            let text = LineText(input: input, allowControlKeys: allowControlKeys)
            if command.isMeta {
                return parseMeta(&request, tokens: tokens, count: count, text: text, contentEnd: contentEnd)
            }

            if command.isRetrieval {
                return parseRetrieval(&request, tokens: tokens, count: count, text: text, contentEnd: contentEnd)
            }
            if overflow { return .invalid(.unknownCommand, consumed: lineLength) }
            let last = tokens[count - 1]
            let endsWithNoreply = count > 1 && text.equals(last, "noreply")

            switch command {
            case .set, .add, .replace, .append, .prepend, .cas:
                let required = command == .cas ? 6 : 5
                guard count == required || count == required + 1 else {
                    return .invalid(.unknownCommand, consumed: lineLength)
                }
                guard let length = text.int64(tokens[4]), length >= 0, length <= Int64(Int32.max) - 2 else {
                    return .fatal(.badCommandLine)
                }
                request.dataLength = Int(length)
                let valid = text.isValidKey(tokens[1])
                    && text.uint64(tokens[2]).map { $0 <= UInt64(UInt32.max) } == true
                    && text.int64(tokens[3]) != nil
                    && (command != .cas || text.uint64(tokens[5]) != nil)
                guard valid else {
                    state = .data(remaining: request.dataLength + 2, discard: true)
                    return .invalid(.badCommandLine, consumed: lineLength)
                }
                guard request.dataLength <= maxValueLength else {
                    state = .data(remaining: request.dataLength + 2, discard: true)
                    return .invalid(.valueTooLarge, consumed: lineLength)
                }
                request.key = tokens[1]
                request.noreply = count == required + 1 && endsWithNoreply
                request.forward = ByteRange(start: tokens[0].start, count: tokens[required - 1].end - tokens[0].start)
                state = .data(remaining: request.dataLength + 2, discard: false)
                return .request(request)

            case .incr, .decr, .touch:
                guard count == 3 || count == 4 else { return .invalid(.unknownCommand, consumed: lineLength) }
                guard text.isValidKey(tokens[1]) else { return .invalid(.badCommandLine, consumed: lineLength) }
                if command == .touch {
                    guard text.int64(tokens[2]) != nil else {
                        return .invalid(.invalidExptime, consumed: lineLength)
                    }
                } else if text.uint64(tokens[2]) == nil {
                    return .invalid(.invalidDelta, consumed: lineLength)
                }
                request.key = tokens[1]
                request.noreply = count == 4 && endsWithNoreply
                request.forward = ByteRange(start: tokens[0].start, count: tokens[2].end - tokens[0].start)
                return .request(request)

            case .delete:
                guard count >= 2 && count <= 4 else { return .invalid(.unknownCommand, consumed: lineLength) }
                guard text.isValidKey(tokens[1]) else { return .invalid(.badCommandLine, consumed: lineLength) }
                if count > 2 {
                    let holdIsZero = text.equals(tokens[2], "0")
                    let valid = (count == 3 && (holdIsZero || endsWithNoreply)) || (count == 4 && holdIsZero && endsWithNoreply)
                    guard valid else { return .invalid(.badDeleteUsage, consumed: lineLength) }
                }
                request.key = tokens[1]
                request.noreply = count > 2 && endsWithNoreply
                request.forward = ByteRange(start: tokens[0].start, count: tokens[1].end - tokens[0].start)
                return .request(request)

            case .flushAll:
                guard count <= 3 else { return .invalid(.unknownCommand, consumed: lineLength) }
                request.noreply = endsWithNoreply
                let arguments = count - 1 - (endsWithNoreply ? 1 : 0)
                if arguments > 0 {
                    guard text.int64(tokens[1]) != nil else {
                        return .invalid(.invalidExptime, consumed: lineLength)
                    }
                    request.argument = tokens[1]
                } else if count == 3 {
                    return .invalid(.unknownCommand, consumed: lineLength)
                }
                return .request(request)

            case .verbosity:
                guard count == 2 || count == 3 else { return .invalid(.unknownCommand, consumed: lineLength) }
                if count == 2 && endsWithNoreply {
                    // memcached stays silent and changes nothing.
                    request.noreply = true
                    return .request(request)
                }
                guard text.uint64(tokens[1]).map({ $0 <= UInt64(UInt32.max) }) == true else {
                    return .invalid(.badCommandLine, consumed: lineLength)
                }
                request.argument = tokens[1]
                request.noreply = count == 3 && endsWithNoreply
                return .request(request)

            case .stats:
                request.hasArguments = count > 1
                if count > 1 { request.argument = ByteRange(start: tokens[1].start, count: contentEnd - tokens[1].start) }
                return .request(request)

            case .version, .quit:
                return .request(request)

            case .get, .gets, .gat, .gats:
                preconditionFailure("retrieval handled above")
            case .metaGet, .metaSet, .metaDelete, .metaArithmetic, .metaNoop, .metaDebug:
                preconditionFailure("meta handled above")
            }
        }
    }

    /// `<cm> <key> [<datalen>] <flags>*`: the key and, for ms, the length are
    /// checked here as memcached checks them; other flags are left to memcached.
    private mutating func parseMeta(_ request: inout ParsedRequest, tokens: UnsafeMutableBufferPointer<ByteRange>,
                                    count: Int, text: LineText, contentEnd: Int) -> ParseStep {
        let command = request.command
        let lineLength = request.lineLength
        request.forward = ByteRange(start: tokens[0].start, count: contentEnd - tokens[0].start)
        if command == .metaNoop { return .request(request) }
        guard count >= 2 else {
            return .invalid(command == .metaDebug ? .badCommandLine : .unknownCommand, consumed: lineLength)
        }
        let firstFlag: Int
        if command == .metaSet {
            guard count >= 3, let length = text.int64(tokens[2]), length >= 0 else {
                return .invalid(.badCommandLine, consumed: lineLength)
            }
            guard length <= Int64(Int32.max) - 2 else { return .fatal(.badCommandLine) }
            request.dataLength = Int(length)
            firstFlag = 3
        } else {
            firstFlag = 2
        }
        // Every flag, including those past the first few tokens.
        let flagsStart = count > firstFlag ? tokens[firstFlag].start : contentEnd
        var flags = LineTokens(range: ByteRange(start: flagsStart, count: contentEnd - flagsStart))
        while let flag = flags.next(in: text.input) {
            request.meta.note(text.input[flag])
        }
        let key = tokens[1]
        request.key = key
        guard text.isValidKey(key) else { return .invalid(.badCommandLine, consumed: lineLength) }
        if request.meta.base64 && !Base64.decode(UnsafeRawBufferPointer(rebasing: text.input[key.start..<key.end]), into: nil) {
            if command == .metaSet { state = .data(remaining: request.dataLength + 2, discard: true) }
            return .invalid(.badKeyEncoding, consumed: lineLength)
        }
        if command == .metaSet { state = .data(remaining: request.dataLength + 2, discard: false) }
        return .request(request)
    }

    private func parseRetrieval(_ request: inout ParsedRequest, tokens: UnsafeMutableBufferPointer<ByteRange>,
                                count: Int, text: LineText, contentEnd: Int) -> ParseStep {
        let firstKeyToken: Int
        if request.command == .gat || request.command == .gats {
            guard count >= 3 else { return .invalid(.unknownCommand, consumed: request.lineLength) }
            guard text.int64(tokens[1]) != nil else {
                return .invalid(.invalidExptime, consumed: request.lineLength)
            }
            request.argument = tokens[1]
            firstKeyToken = 2
        } else {
            guard count >= 2 else { return .invalid(.unknownCommand, consumed: request.lineLength) }
            firstKeyToken = 1
        }
        let keysStart = tokens[firstKeyToken].start
        request.key = tokens[firstKeyToken]
        request.keys = ByteRange(start: keysStart, count: contentEnd - keysStart)
        var keys = LineTokens(range: request.keys)
        while let key = keys.next(in: text.input) {
            guard text.isValidKey(key) else { return .invalid(.badCommandLine, consumed: request.lineLength) }
        }
        return .request(request)
    }
}

/// Reads tokens of one line: comparisons and strict decimal numbers. Like
/// memcached, exptimes are any 64-bit signed number.
struct LineText {
    let input: UnsafeRawBufferPointer
    var allowControlKeys = false

    func equals(_ token: ByteRange, _ text: StaticString) -> Bool {
        token.count == text.utf8CodeUnitCount && memcmp(input.baseAddress! + token.start, text.utf8Start, token.count) == 0
    }

    /// memcached's rule: 1...250 bytes, and (as its protocol asks) no control
    /// characters; with `allowControlKeys` only NUL, CR and LF are refused.
    func isValidKey(_ token: ByteRange) -> Bool {
        guard token.count > 0 && token.count <= ProtocolLimits.maxKeyLength else { return false }
        for index in token.start..<token.end {
            let byte = input[index]
            if allowControlKeys {
                if byte == 0 || byte == 13 || byte == 10 { return false }
            } else if byte < 32 || byte == 127 {
                return false
            }
        }
        return true
    }

    func uint64(_ token: ByteRange) -> UInt64? { LineTokens.decimal(input, token) }

    func int64(_ token: ByteRange) -> Int64? { LineTokens.signedDecimal(input, token) }
}
