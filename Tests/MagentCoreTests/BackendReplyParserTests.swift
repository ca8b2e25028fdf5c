// BackendReplyParser tests: memcached replies of every ReplyShape as literal text, good
// ones and out-of-sync ones, each fed whole, a byte at a time and in random chunks.

import Testing
@testable import MagentCore

/// One thing the reply parser reported, normalised so any split gives the same list.
enum ReplyEvent: Equatable, Sendable, CustomStringConvertible {
    /// A VALUE line as received, \r\n included.
    case header([UInt8])
    /// A whole value, its closing \r\n included (the chunks of one value merged).
    case value([UInt8])
    /// END\r\n.
    case end
    /// A STAT line, \r\n included.
    case stat([UInt8])
    /// A one-line reply, \r\n included.
    case line([UInt8], isError: Bool)
    /// The connection is out of sync. Value bytes already passed on before it are dropped
    /// from the list, since how many there were depends on how the input was split.
    case protocolError
    /// The start of a value that the input ended inside.
    case unfinishedValue([UInt8])
    /// Bytes left unparsed at the end of the input.
    case pending(Int)
    case violation(String)

    static func header(_ text: String) -> ReplyEvent { .header(Array(text.utf8)) }
    static func value(_ text: String) -> ReplyEvent { .value(Array(text.utf8)) }
    static func stat(_ text: String) -> ReplyEvent { .stat(Array(text.utf8)) }
    static func line(_ text: String, isError: Bool = false) -> ReplyEvent { .line(Array(text.utf8), isError: isError) }
    static func error(_ text: String) -> ReplyEvent { .line(Array(text.utf8), isError: true) }

    var description: String {
        switch self {
        case .header(let bytes): return "header(\"\(abbreviated(bytes))\")"
        case .value(let bytes): return "value(\"\(abbreviated(bytes))\")"
        case .end: return "end"
        case .stat(let bytes): return "stat(\"\(abbreviated(bytes))\")"
        case .line(let bytes, let isError): return "line(\"\(abbreviated(bytes))\", isError: \(isError))"
        case .protocolError: return "protocolError"
        case .unfinishedValue(let bytes): return "unfinishedValue(\"\(abbreviated(bytes))\")"
        case .pending(let count): return "pending(\(count))"
        case .violation(let text): return "VIOLATION(\(text))"
        }
    }
}

/// A table row: the shapes the pending requests expect, in order, the bytes the backend
/// sent, and the events they must produce.
struct ReplyRow: Sendable, CustomTestStringConvertible {
    let name: String
    let shapes: [ReplyShape]
    let input: [UInt8]
    let expected: [ReplyEvent]

    init(_ name: String, _ shapes: [ReplyShape], _ input: String, _ expected: [ReplyEvent]) {
        self.init(name, shapes, bytes: Array(input.utf8), expected)
    }

    init(_ name: String, _ shapes: [ReplyShape], bytes: [UInt8], _ expected: [ReplyEvent]) {
        self.name = name
        self.shapes = shapes
        self.input = bytes
        self.expected = expected
    }

    var testDescription: String { "\(name): \"\(abbreviated(input, limit: 60))\"" }
}

/// Parses backend bytes the way a backend connection does: each reply with the shape of
/// the oldest pending request, moving to the next request after END or a one-line reply.
/// Stops at the first protocol error, or when no request is left.
func parseReplies(_ input: [UInt8], shapes: [ReplyShape], feeding: Feeding) -> [ReplyEvent] {
    var parser = BackendReplyParser()
    var events: [ReplyEvent] = []
    var value: [UInt8]? = nil
    var shapeIndex = 0

    let leftover = drive(input, feeding: feeding, violation: { events.append(.violation($0)) }) { bytes in
        guard shapeIndex < shapes.count else { return .waitForInput }
        let step = parser.next(bytes, shape: shapes[shapeIndex])

        func taking(_ length: Int, _ body: ([UInt8]) -> Void) -> DriveAction {
            guard length > 0 && length <= bytes.count else {
                events.append(.violation("\(step) with \(bytes.count) bytes available"))
                return .stop
            }
            let taken = Array(bytes[0..<length])
            if Array(taken.suffix(2)) != [13, 10] {
                events.append(.violation("a line of \(length) bytes that does not end in \\r\\n"))
            }
            body(taken)
            return .consumed(length)
        }

        if value != nil {
            switch step {
            case .itemData, .needMoreData, .protocolError: break
            default:
                events.append(.violation("value interrupted by \(step)"))
                return .stop
            }
        }
        switch step {
        case .needMoreData:
            return .waitForInput
        case .itemHeader(let length):
            return taking(length) { line in
                events.append(.header(line))
                if !line.starts(with: Array("VALUE ".utf8)) { events.append(.violation("header is not a VALUE line")) }
                if !parser.isInsideValue { events.append(.violation("not inside a value after its header")) }
                value = []
            }
        case .itemData(let count, let isLast):
            guard count > 0 && count <= bytes.count, value != nil else {
                events.append(.violation("\(step) with \(bytes.count) bytes available, value \(value == nil ? "not " : "")started"))
                return .stop
            }
            value!.append(contentsOf: bytes[0..<count])
            if isLast == parser.isInsideValue {
                events.append(.violation("isLast \(isLast) but isInsideValue \(parser.isInsideValue)"))
            }
            if isLast {
                events.append(.value(value!))
                value = nil
            }
            return .consumed(count)
        case .end(let length):
            return taking(length) { line in
                if line != Array("END\r\n".utf8) { events.append(.violation("end of \(length) bytes")) }
                events.append(.end)
                shapeIndex += 1
            }
        case .statLine(let length):
            return taking(length) { events.append(.stat($0)) }
        case .line(let length, let isError):
            return taking(length) { line in
                events.append(.line(line, isError: isError))
                shapeIndex += 1
            }
        case .protocolError:
            value = nil
            events.append(.protocolError)
            return .stop
        }
    }
    if let value { events.append(.unfinishedValue(value)) }
    if leftover > 0 { events.append(.pending(leftover)) }
    return events
}

private let longText = String(repeating: "x", count: 9_000)

let goodReplies: [ReplyRow] = [
    // Retrieval
    ReplyRow("a miss", [.retrieval], "END\r\n", [.end]),
    ReplyRow("one value", [.retrieval], "VALUE k 0 5\r\nhello\r\nEND\r\n",
             [.header("VALUE k 0 5\r\n"), .value("hello\r\n"), .end]),
    ReplyRow("one value with a cas unique", [.retrieval], "VALUE k 3 2 99\r\nhi\r\nEND\r\n",
             [.header("VALUE k 3 2 99\r\n"), .value("hi\r\n"), .end]),
    ReplyRow("two values", [.retrieval], "VALUE a 0 1\r\n1\r\nVALUE b 4294967295 2\r\n22\r\nEND\r\n",
             [.header("VALUE a 0 1\r\n"), .value("1\r\n"), .header("VALUE b 4294967295 2\r\n"), .value("22\r\n"), .end]),
    ReplyRow("a value holding \\r\\nEND\\r\\n", [.retrieval], "VALUE k 0 9\r\na\r\nEND\r\nb\r\nEND\r\n",
             [.header("VALUE k 0 9\r\n"), .value("a\r\nEND\r\nb\r\n"), .end]),
    ReplyRow("a value that is exactly END\\r\\n", [.retrieval], "VALUE k 0 5\r\nEND\r\n\r\nEND\r\n",
             [.header("VALUE k 0 5\r\n"), .value("END\r\n\r\n"), .end]),
    ReplyRow("a zero-length value", [.retrieval], "VALUE k 0 0\r\n\r\nEND\r\n",
             [.header("VALUE k 0 0\r\n"), .value("\r\n"), .end]),
    ReplyRow("a binary value", [.retrieval], bytes: Array("VALUE k 0 4\r\n".utf8) + [0, 255, 10, 13] + Array("\r\nEND\r\n".utf8),
             [.header("VALUE k 0 4\r\n"), .value([0, 255, 10, 13, 13, 10]), .end]),
    ReplyRow("ERROR to a get", [.retrieval], "ERROR\r\n", [.error("ERROR\r\n")]),
    ReplyRow("CLIENT_ERROR to a get", [.retrieval], "CLIENT_ERROR bad command line format\r\n",
             [.error("CLIENT_ERROR bad command line format\r\n")]),
    ReplyRow("SERVER_ERROR to a get", [.retrieval], "SERVER_ERROR out of memory\r\n", [.error("SERVER_ERROR out of memory\r\n")]),

    // One line
    ReplyRow("STORED", [.line], "STORED\r\n", [.line("STORED\r\n")]),
    ReplyRow("NOT_STORED", [.line], "NOT_STORED\r\n", [.line("NOT_STORED\r\n")]),
    ReplyRow("EXISTS", [.line], "EXISTS\r\n", [.line("EXISTS\r\n")]),
    ReplyRow("NOT_FOUND", [.line], "NOT_FOUND\r\n", [.line("NOT_FOUND\r\n")]),
    ReplyRow("DELETED", [.line], "DELETED\r\n", [.line("DELETED\r\n")]),
    ReplyRow("TOUCHED", [.line], "TOUCHED\r\n", [.line("TOUCHED\r\n")]),
    ReplyRow("OK", [.line], "OK\r\n", [.line("OK\r\n")]),
    ReplyRow("a number", [.line], "18446744073709551615\r\n", [.line("18446744073709551615\r\n")]),
    ReplyRow("VERSION", [.line], "VERSION 1.6.18\r\n", [.line("VERSION 1.6.18\r\n")]),
    ReplyRow("ERROR", [.line], "ERROR\r\n", [.error("ERROR\r\n")]),
    ReplyRow("CLIENT_ERROR", [.line], "CLIENT_ERROR bad data chunk\r\n", [.error("CLIENT_ERROR bad data chunk\r\n")]),
    ReplyRow("SERVER_ERROR", [.line], "SERVER_ERROR object too large for cache\r\n",
             [.error("SERVER_ERROR object too large for cache\r\n")]),
    ReplyRow("a long line within the 8 KiB limit", [.line], "SERVER_ERROR " + String(repeating: "y", count: 8_000) + "\r\n",
             [.error("SERVER_ERROR " + String(repeating: "y", count: 8_000) + "\r\n")]),

    // Stats
    ReplyRow("STAT lines then END", [.stats], "STAT pid 1\r\nSTAT uptime 2\r\nSTAT version 1.6.18\r\nEND\r\n",
             [.stat("STAT pid 1\r\n"), .stat("STAT uptime 2\r\n"), .stat("STAT version 1.6.18\r\n"), .end]),
    ReplyRow("empty stats", [.stats], "END\r\n", [.end]),
    ReplyRow("an error to stats", [.stats], "CLIENT_ERROR bad command line format\r\n",
             [.error("CLIENT_ERROR bad command line format\r\n")]),

    // Pipelines and what lies beyond the pending requests
    ReplyRow("replies to pipelined requests", [.line, .retrieval, .line, .stats, .line],
             "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nDELETED\r\nSTAT a b\r\nEND\r\n42\r\n", [
        .line("STORED\r\n"), .header("VALUE a 0 1\r\n"), .value("x\r\n"), .end, .line("DELETED\r\n"),
        .stat("STAT a b\r\n"), .end, .line("42\r\n"),
    ]),
    ReplyRow("a retrieval cut short by its error, then the next reply", [.retrieval, .line],
             "SERVER_ERROR busy\r\nNOT_FOUND\r\n", [.error("SERVER_ERROR busy\r\n"), .line("NOT_FOUND\r\n")]),
    ReplyRow("bytes after the last expected reply are left alone", [.line], "STORED\r\nEXTRA\r\n",
             [.line("STORED\r\n"), .pending(7)]),
    ReplyRow("a value still arriving", [.retrieval], "VALUE k 0 5\r\nhel",
             [.header("VALUE k 0 5\r\n"), .unfinishedValue(Array("hel".utf8))]),
    ReplyRow("a line still arriving", [.line], "STOR", [.pending(4)]),
]

let badReplies: [ReplyRow] = [
    ReplyRow("a line without \\r before \\n", [.line], "STORED\n", [.protocolError]),
    ReplyRow("END without \\r", [.retrieval], "END\n", [.protocolError]),
    ReplyRow("a bare newline", [.line], "\n", [.protocolError]),
    ReplyRow("an empty line to a one-line request", [.line], "\r\n", [.protocolError]),
    ReplyRow("VALUE with a non-numeric length", [.retrieval], "VALUE k 0 x\r\nxx\r\nEND\r\n", [.protocolError]),
    ReplyRow("VALUE without a length", [.retrieval], "VALUE k 0\r\n", [.protocolError]),
    ReplyRow("VALUE with a negative length", [.retrieval], "VALUE k 0 -1\r\n", [.protocolError]),
    ReplyRow("VALUE with an 11-digit length", [.retrieval], "VALUE k 0 12345678901\r\n", [.protocolError]),
    ReplyRow("a value longer than its length", [.retrieval], "VALUE k 0 3\r\nabcde\r\nEND\r\n",
             [.header("VALUE k 0 3\r\n"), .protocolError]),
    ReplyRow("a value ending in \\n\\r", [.retrieval], "VALUE k 0 3\r\nabc\n\rEND\r\n", [.header("VALUE k 0 3\r\n"), .protocolError]),
    ReplyRow("a value ending in \\r and another byte", [.retrieval], "VALUE k 0 3\r\nabc\rXEND\r\n",
             [.header("VALUE k 0 3\r\n"), .protocolError]),
    ReplyRow("a value shorter than its length runs into END", [.retrieval], "VALUE k 0 5\r\nab\r\nEND\r\n",
             [.header("VALUE k 0 5\r\n"), .protocolError]),
    ReplyRow("a good value then a bad one", [.retrieval], "VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n22\r\nEND\r\n",
             [.header("VALUE a 0 1\r\n"), .value("1\r\n"), .header("VALUE b 0 1\r\n"), .protocolError]),
    ReplyRow("VALUE in reply to a one-line request", [.line], "VALUE k 0 1\r\nx\r\nEND\r\n", [.protocolError]),
    ReplyRow("END in reply to a one-line request", [.line], "END\r\n", [.protocolError]),
    ReplyRow("STAT in reply to a one-line request", [.line], "STAT pid 1\r\n", [.protocolError]),
    ReplyRow("garbage in reply to a one-line request", [.line], "\u{7f}\u{7f}\r\n", [.protocolError]),
    ReplyRow("an unknown word in reply to a one-line request", [.line], "STOREDX\r\n", [.protocolError]),
    ReplyRow("a number with a sign in reply to a one-line request", [.line], "-5\r\n", [.protocolError]),
    ReplyRow("a 21-digit number in reply to incr", [.line], "123456789012345678901\r\n", [.protocolError]),
    ReplyRow("STORED in reply to a get", [.retrieval], "STORED\r\n", [.protocolError]),
    ReplyRow("STAT in reply to a get", [.retrieval], "STAT pid 1\r\n", [.protocolError]),
    ReplyRow("VALUE in reply to stats", [.stats], "VALUE k 0 1\r\nx\r\n", [.protocolError]),
    ReplyRow("STORED in reply to stats", [.stats], "STORED\r\n", [.protocolError]),
    ReplyRow("an answer to the wrong request in a pipeline", [.line, .line], "STORED\r\nEND\r\n",
             [.line("STORED\r\n"), .protocolError]),
    ReplyRow("an over-long line without a newline", [.line], "SERVER_ERROR " + longText, [.protocolError]),
    ReplyRow("an over-long VALUE line without a newline after a value", [.retrieval],
             "VALUE a 0 1\r\n1\r\nVALUE " + longText, [.header("VALUE a 0 1\r\n"), .value("1\r\n"), .protocolError]),
    // ProtocolLimits.maxBackendLine is "the longest single reply line a backend may send":
    // a longer line is refused whether or not its newline came in the same read.
    ReplyRow("an over-long line with its newline", [.line], "SERVER_ERROR " + longText + "\r\n", [.protocolError]),
]

@Suite struct BackendReplyParserTests {
    @Test("good replies parse the same however they are split", arguments: goodReplies, Feeding.all)
    func goodReply(_ row: ReplyRow, _ feeding: Feeding) {
        let events = parseReplies(row.input, shapes: row.shapes, feeding: feeding)
        #expect(events == row.expected, "\(row.name), fed \(feeding)")
    }

    @Test("replies out of sync are protocol errors however they are split", arguments: badReplies, Feeding.all)
    func badReply(_ row: ReplyRow, _ feeding: Feeding) {
        let events = parseReplies(row.input, shapes: row.shapes, feeding: feeding)
        #expect(events == row.expected, "\(row.name), fed \(feeding)")
    }

    @Test("every row parses the same when split in two at any point",
          arguments: (goodReplies + badReplies).filter { $0.input.count <= 600 })
    func everyTwoPieceSplit(_ row: ReplyRow) {
        for feeding in Feeding.everyTwoPieceSplit(of: row.input.count) {
            let events = parseReplies(row.input, shapes: row.shapes, feeding: feeding)
            #expect(events == row.expected, "\(row.name), fed \(feeding)")
            if events != row.expected { break }
        }
    }

    @Test("an over-long reply line is refused whether or not its newline came in the same read")
    func overLongLineWholeAndSplit() {
        let line = Array(("SERVER_ERROR " + longText + "\r\n").utf8)
        #expect(parseReplies(line, shapes: [.line], feeding: .pieces([line.count - 1])) == [.protocolError], "fed with the \\n apart")
        #expect(parseReplies(line, shapes: [.line], feeding: .whole) == [.protocolError], "fed whole")
    }

    @Test("isInsideValue follows a value, and reset forgets it")
    func insideValueAndReset() {
        var parser = BackendReplyParser()
        #expect(!parser.isInsideValue)
        let reply = Array("VALUE k 0 5\r\nhel".utf8)
        let header = reply.withUnsafeBytes { parser.next($0, shape: .retrieval) }
        #expect(header == .itemHeader(length: 13))
        #expect(parser.isInsideValue)
        let data = reply.withUnsafeBytes { parser.next(UnsafeRawBufferPointer(rebasing: $0[13...]), shape: .retrieval) }
        #expect(data == .itemData(count: 3, isLast: false))
        #expect(parser.isInsideValue)
        parser.reset()
        #expect(!parser.isInsideValue)
        let end = Array("END\r\n".utf8).withUnsafeBytes { parser.next($0, shape: .retrieval) }
        #expect(end == .end(length: 5))
    }

    @Test("reset forgets a half-scanned line")
    func resetForgetsScanPosition() {
        var parser = BackendReplyParser()
        let partial = Array("STORED".utf8)
        #expect(partial.withUnsafeBytes { parser.next($0, shape: .line) } == .needMoreData)
        parser.reset()
        let fresh = Array("OK\r\n".utf8)
        #expect(fresh.withUnsafeBytes { parser.next($0, shape: .line) } == .line(length: 4, isError: false))
    }

    @Test("an empty input needs more data in every state")
    func emptyInput() {
        var parser = BackendReplyParser()
        let empty: [UInt8] = []
        #expect(empty.withUnsafeBytes { parser.next($0, shape: .line) } == .needMoreData)
        let header = Array("VALUE k 0 1\r\n".utf8)
        #expect(header.withUnsafeBytes { parser.next($0, shape: .retrieval) } == .itemHeader(length: 13))
        #expect(empty.withUnsafeBytes { parser.next($0, shape: .retrieval) } == .needMoreData)
    }
}
