// RequestParser tests: tables of literal client protocol text, good and bad, each fed
// whole, one byte at a time, in seeded random chunks and split in two at every point.

import Testing
@testable import MagentCore

// MARK: - Normalised parse results

/// A parsed command line with its ranges turned into the bytes they cover.
struct RequestSummary: Equatable, Sendable, CustomStringConvertible {
    var command: Command
    var key: [UInt8]
    var keys: [UInt8]
    var argument: [UInt8]
    var forward: [UInt8]
    var dataLength: Int
    var noreply: Bool
    var hasArguments: Bool

    var description: String {
        var parts = ["\(command)"]
        if !key.isEmpty { parts.append("key \"\(abbreviated(key))\"") }
        if !keys.isEmpty { parts.append("keys \"\(abbreviated(keys))\"") }
        if !argument.isEmpty { parts.append("argument \"\(visible(argument))\"") }
        if !forward.isEmpty { parts.append("forward \"\(abbreviated(forward))\"") }
        if dataLength != 0 { parts.append("dataLength \(dataLength)") }
        if noreply { parts.append("noreply") }
        if hasArguments { parts.append("hasArguments") }
        return parts.joined(separator: ", ")
    }
}

/// One thing the parser reported, normalised so that any split of the input gives the
/// same list: data chunks of one block are merged, so are consecutive discards.
enum RequestEvent: Equatable, Sendable, CustomStringConvertible {
    case parsed(RequestSummary)
    /// A whole data block as forwarded, its closing \r\n included.
    case block([UInt8])
    /// The start of a data block that the input ended inside.
    case unfinishedBlock([UInt8])
    case discarded(Int)
    case invalid(ClientError)
    case fatal(ClientError)
    /// Bytes of an unfinished line still waiting when the input ended.
    case pending(Int)
    /// A broken invariant (a consumed count past the input, a bad forward range...).
    case violation(String)

    static func request(
        _ command: Command, key: String = "", keys: String = "", argument: String = "", forward: String = "",
        dataLength: Int = 0, noreply: Bool = false, hasArguments: Bool = false
    ) -> RequestEvent {
        .parsed(RequestSummary(
            command: command, key: Array(key.utf8), keys: Array(keys.utf8), argument: Array(argument.utf8),
            forward: Array(forward.utf8), dataLength: dataLength, noreply: noreply, hasArguments: hasArguments))
    }

    /// A retrieval of `keys` (the first key is the request's key).
    static func retrieval(_ command: Command, _ keys: String, argument: String = "") -> RequestEvent {
        let first = keys.split(separator: " ").first.map(String.init) ?? ""
        return request(command, key: first, keys: keys, argument: argument)
    }

    /// A retrieval of one key given as raw bytes (not necessarily UTF-8).
    static func retrieval(_ command: Command, keyBytes: [UInt8]) -> RequestEvent {
        .parsed(RequestSummary(command: command, key: keyBytes, keys: keyBytes, argument: [], forward: [],
                               dataLength: 0, noreply: false, hasArguments: false))
    }

    static func data(_ text: String) -> RequestEvent { .block(Array(text.utf8)) }

    var description: String {
        switch self {
        case .parsed(let summary): return "request(\(summary))"
        case .block(let bytes): return "data(\"\(abbreviated(bytes))\")"
        case .unfinishedBlock(let bytes): return "unfinishedData(\"\(abbreviated(bytes))\")"
        case .discarded(let count): return "discarded(\(count))"
        case .invalid(let error): return "invalid(.\(error))"
        case .fatal(let error): return "fatal(.\(error))"
        case .pending(let count): return "pending(\(count))"
        case .violation(let text): return "VIOLATION(\(text))"
        }
    }
}

/// A table row: literal input bytes and the events they must produce.
struct RequestRow: Sendable, CustomTestStringConvertible {
    let name: String
    let input: [UInt8]
    let expected: [RequestEvent]

    init(_ name: String, _ input: String, _ expected: [RequestEvent]) {
        self.init(name, bytes: Array(input.utf8), expected)
    }

    init(_ name: String, bytes: [UInt8], _ expected: [RequestEvent]) {
        self.name = name
        self.input = bytes
        self.expected = expected
    }

    var testDescription: String { "\(name): \"\(abbreviated(input, limit: 60))\"" }
}

// MARK: - The driver

/// Parses `input` delivered as `feeding` dictates, the way a client connection does, and
/// returns the normalised events. Invariants are checked on every step and reported
/// as `.violation` events.
func parseRequests(_ input: [UInt8], feeding: Feeding) -> [RequestEvent] {
    var parser = RequestParser()
    var events: [RequestEvent] = []
    var block: [UInt8]? = nil
    var discarded = 0

    let leftover = drive(input, feeding: feeding, violation: { events.append(.violation($0)) }) { bytes in
        let step = parser.next(bytes)
        switch step {
        case .discarded, .needMoreData: break
        default:
            if discarded > 0 {
                events.append(.discarded(discarded))
                discarded = 0
            }
        }
        if case .data = step {} else if case .needMoreData = step {} else if let partial = block {
            events.append(.violation("data block interrupted after \(partial.count) bytes by \(step)"))
            return .stop
        }
        switch step {
        case .needMoreData:
            return .waitForInput
        case .request(let request):
            guard request.lineLength > 0 && request.lineLength <= bytes.count else {
                events.append(.violation("lineLength \(request.lineLength) with \(bytes.count) bytes available"))
                return .stop
            }
            events.append(.parsed(summarise(request, in: bytes)))
            events.append(contentsOf: checkInvariants(request, in: bytes, parser: parser).map { .violation($0) })
            return .consumed(request.lineLength)
        case .data(let count, let isLast):
            guard count > 0 && count <= bytes.count else {
                events.append(.violation("data count \(count) with \(bytes.count) bytes available"))
                return .stop
            }
            block = block ?? []
            block!.append(contentsOf: bytes[0..<count])
            if isLast != !parser.isInDataBlock {
                events.append(.violation("isLast \(isLast) but the parser is \(parser.isInDataBlock ? "still" : "no longer") in a block"))
            }
            if isLast {
                events.append(.block(block!))
                block = nil
            }
            return .consumed(count)
        case .discarded(let count):
            discarded += count
            return .consumed(count)
        case .invalid(let error, let consumed):
            events.append(.invalid(error))
            if consumed <= bytes.count && consumed > 0 && bytes[consumed - 1] != 10 {
                events.append(.violation("an invalid line of \(consumed) bytes does not end at a newline"))
            }
            return .consumed(consumed)
        case .fatal(let error):
            events.append(.fatal(error))
            return .stop
        }
    }
    if discarded > 0 { events.append(.discarded(discarded)) }
    if let block { events.append(.unfinishedBlock(block)) }
    if leftover > 0 { events.append(.pending(leftover)) }
    return events
}

private func bytes(of range: ByteRange, in input: UnsafeRawBufferPointer) -> [UInt8] {
    guard range.start >= 0, range.count >= 0, range.end <= input.count else { return Array("<out of range \(range)>".utf8) }
    return Array(input[range.start..<range.end])
}

private func summarise(_ request: ParsedRequest, in input: UnsafeRawBufferPointer) -> RequestSummary {
    RequestSummary(
        command: request.command,
        key: bytes(of: request.key, in: input),
        keys: bytes(of: request.keys, in: input),
        argument: bytes(of: request.argument, in: input),
        forward: bytes(of: request.forward, in: input),
        dataLength: request.dataLength,
        noreply: request.noreply,
        hasArguments: request.hasArguments)
}

/// What must hold for every parsed request, whatever the table says.
private func checkInvariants(_ request: ParsedRequest, in input: UnsafeRawBufferPointer, parser: RequestParser) -> [String] {
    var problems: [String] = []
    let line = request.lineLength
    if input[line - 1] != 10 { problems.append("the line does not end at a newline") }
    for (name, range) in [("key", request.key), ("keys", request.keys), ("argument", request.argument), ("forward", request.forward)] {
        if range.start < 0 || range.count < 0 || range.end > line - 1 {
            problems.append("\(name) range \(range) leaves the line content (line length \(line))")
        }
    }
    guard problems.isEmpty else { return problems }
    let forward = Array(input[request.forward.start..<request.forward.end])
    if forward.contains(13) || forward.contains(10) { problems.append("forward contains a line end") }
    // A key may be called "noreply"; no noreply token may follow it.
    let afterKey = request.key.count > 0 && request.key.end > request.forward.start
        ? Array(input[Swift.min(request.key.end, request.forward.end)..<request.forward.end]) : forward
    if afterKey.split(separator: 32).contains(where: { Array($0) == Array("noreply".utf8) }) {
        problems.append("forward contains noreply")
    }
    if request.command.isKeyedWrite {
        let verb = request.command.verb
        let verbBytes = Array(UnsafeRawBufferPointer(start: verb.utf8Start, count: verb.utf8CodeUnitCount))
        if !forward.starts(with: verbBytes) { problems.append("forward does not start with the verb") }
        if request.key.start < request.forward.start || request.key.end > request.forward.end {
            problems.append("forward does not contain the key")
        }
    }
    if request.command.hasDataBlock {
        if !parser.isInDataBlock || parser.dataRemaining != request.dataLength + 2 {
            problems.append("after a storage line the parser expects \(parser.dataRemaining) data bytes, not \(request.dataLength + 2)")
        }
    } else if parser.isInDataBlock {
        problems.append("the parser entered a data block after \(request.command)")
    }
    return problems
}

// MARK: - Tables

private let key250 = String(repeating: "k", count: 250)
private let key251 = String(repeating: "k", count: 251)

/// "key0 key1 ..." long enough to make a retrieval line of more than 100 KB.
private let manyKeys: String = {
    var keys: [String] = []
    var length = 0
    var index = 0
    while length < 100_000 {
        let key = "key:\(index)"
        keys.append(key)
        length += key.utf8.count + 1
        index += 1
    }
    return keys.joined(separator: " ")
}()

/// A `delete k` line padded with spaces to exactly `contentLength` bytes before its \r\n.
private func paddedDelete(contentLength: Int) -> String {
    "delete k" + String(repeating: " ", count: contentLength - 8) + "\r\n"
}

let goodRequests: [RequestRow] = [
    // Retrieval
    RequestRow("get one key", "get k\r\n", [.retrieval(.get, "k")]),
    RequestRow("get many keys", "get a bb ccc dddd\r\n", [.retrieval(.get, "a bb ccc dddd")]),
    RequestRow("gets one key", "gets k\r\n", [.retrieval(.gets, "k")]),
    RequestRow("gets many keys", "gets k1 k2 k3\r\n", [.retrieval(.gets, "k1 k2 k3")]),
    RequestRow("get with extra spaces keeps the key range to the line end", "  get   a   b  \r\n",
               [.request(.get, key: "a", keys: "a   b  ")]),
    RequestRow("get ending in \\n only", "get k\n", [.retrieval(.get, "k")]),
    RequestRow("gets with several keys ending in \\n only", "gets a b\n", [.retrieval(.gets, "a b")]),
    RequestRow("gat with exptime", "gat 100 k\r\n", [.retrieval(.gat, "k", argument: "100")]),
    RequestRow("gats with negative exptime and two keys", "gats -1 a b\r\n", [.retrieval(.gats, "a b", argument: "-1")]),
    RequestRow("get of a 250-byte key", "get \(key250)\r\n", [.retrieval(.get, key250)]),
    RequestRow("get of a UTF-8 key", "get clé-日本\r\n", [.retrieval(.get, "clé-日本")]),
    RequestRow("get of a key named noreply", "get noreply\r\n", [.retrieval(.get, "noreply")]),
    RequestRow("get of a key with Latin-1 bytes (not UTF-8)", bytes: Array("get caf".utf8) + [0xE9, 0xFF] + Array("\r\n".utf8),
               [.retrieval(.get, keyBytes: Array("caf".utf8) + [0xE9, 0xFF])]),
    RequestRow("get line of more than 100 KB with many keys", "get \(manyKeys)\r\n", [.retrieval(.get, manyKeys)]),

    // Storage
    RequestRow("set", "set k 0 0 5\r\nhello\r\n",
               [.request(.set, key: "k", forward: "set k 0 0 5", dataLength: 5), .data("hello\r\n")]),
    RequestRow("set noreply", "set k 5 100 3 noreply\r\nabc\r\n",
               [.request(.set, key: "k", forward: "set k 5 100 3", dataLength: 3, noreply: true), .data("abc\r\n")]),
    RequestRow("add", "add k 1 2 1\r\nx\r\n", [.request(.add, key: "k", forward: "add k 1 2 1", dataLength: 1), .data("x\r\n")]),
    RequestRow("add noreply", "add k 1 2 1 noreply\r\nx\r\n",
               [.request(.add, key: "k", forward: "add k 1 2 1", dataLength: 1, noreply: true), .data("x\r\n")]),
    RequestRow("replace", "replace k 0 0 2\r\nab\r\n",
               [.request(.replace, key: "k", forward: "replace k 0 0 2", dataLength: 2), .data("ab\r\n")]),
    RequestRow("replace noreply", "replace k 0 0 2 noreply\r\nab\r\n",
               [.request(.replace, key: "k", forward: "replace k 0 0 2", dataLength: 2, noreply: true), .data("ab\r\n")]),
    RequestRow("append", "append k 0 0 3\r\nxyz\r\n",
               [.request(.append, key: "k", forward: "append k 0 0 3", dataLength: 3), .data("xyz\r\n")]),
    RequestRow("append noreply", "append k 0 0 3 noreply\r\nxyz\r\n",
               [.request(.append, key: "k", forward: "append k 0 0 3", dataLength: 3, noreply: true), .data("xyz\r\n")]),
    RequestRow("prepend", "prepend k 0 0 3\r\nxyz\r\n",
               [.request(.prepend, key: "k", forward: "prepend k 0 0 3", dataLength: 3), .data("xyz\r\n")]),
    RequestRow("prepend noreply", "prepend k 0 0 3 noreply\r\nxyz\r\n",
               [.request(.prepend, key: "k", forward: "prepend k 0 0 3", dataLength: 3, noreply: true), .data("xyz\r\n")]),
    RequestRow("set whose data block holds \\r\\n and END, then a get", "set k 0 0 10\r\nx\r\nEND\r\nyz\r\nget k\r\n",
               [.request(.set, key: "k", forward: "set k 0 0 10", dataLength: 10), .data("x\r\nEND\r\nyz\r\n"),
                .retrieval(.get, "k")]),
    RequestRow("set whose data block looks like a command", "set k 0 0 7\r\nget a b\r\nversion\r\n",
               [.request(.set, key: "k", forward: "set k 0 0 7", dataLength: 7), .data("get a b\r\n"),
                .request(.version)]),
    RequestRow("set of a zero-length value", "set k 0 0 0\r\n\r\n",
               [.request(.set, key: "k", forward: "set k 0 0 0", dataLength: 0), .data("\r\n")]),
    RequestRow("set with the largest flags and a negative exptime", "set k 4294967295 -1 1\r\nx\r\n",
               [.request(.set, key: "k", forward: "set k 4294967295 -1 1", dataLength: 1), .data("x\r\n")]),
    RequestRow("set with extra spaces forwards from the verb to the length", "  set  k  0  0  2  noreply \r\nab\r\n",
               [.request(.set, key: "k", forward: "set  k  0  0  2", dataLength: 2, noreply: true), .data("ab\r\n")]),
    RequestRow("set ending in \\n only", "set k 0 0 2\nab\r\n",
               [.request(.set, key: "k", forward: "set k 0 0 2", dataLength: 2), .data("ab\r\n")]),
    RequestRow("set with a sixth token other than noreply", "set k 0 0 1 norepl\r\nx\r\n",
               [.request(.set, key: "k", forward: "set k 0 0 1", dataLength: 1), .data("x\r\n")]),
    RequestRow("set of a 250-byte key", "set \(key250) 0 0 1\r\nx\r\n",
               [.request(.set, key: key250, forward: "set \(key250) 0 0 1", dataLength: 1), .data("x\r\n")]),
    RequestRow("set of a UTF-8 key", "set ключ 0 0 1\r\nx\r\n",
               [.request(.set, key: "ключ", forward: "set ключ 0 0 1", dataLength: 1), .data("x\r\n")]),
    RequestRow("set of a binary value", bytes: Array("set k 0 0 4\r\n".utf8) + [0, 255, 13, 10] + [13, 10], [
        .request(.set, key: "k", forward: "set k 0 0 4", dataLength: 4), .block([0, 255, 13, 10, 13, 10]),
    ]),
    RequestRow("cas", "cas k 0 0 2 12345\r\nhi\r\n",
               [.request(.cas, key: "k", forward: "cas k 0 0 2 12345", dataLength: 2), .data("hi\r\n")]),
    RequestRow("cas noreply", "cas k 0 0 2 12345 noreply\r\nhi\r\n",
               [.request(.cas, key: "k", forward: "cas k 0 0 2 12345", dataLength: 2, noreply: true), .data("hi\r\n")]),
    RequestRow("a value split with its \\r\\n still to come", "set k 0 0 5\r\nhel",
               [.request(.set, key: "k", forward: "set k 0 0 5", dataLength: 5), .unfinishedBlock(Array("hel".utf8))]),

    // Arithmetic, delete, touch
    RequestRow("incr", "incr k 5\r\n", [.request(.incr, key: "k", forward: "incr k 5")]),
    RequestRow("incr noreply", "incr k 5 noreply\r\n", [.request(.incr, key: "k", forward: "incr k 5", noreply: true)]),
    RequestRow("decr by the largest delta", "decr k 18446744073709551615\r\n",
               [.request(.decr, key: "k", forward: "decr k 18446744073709551615")]),
    RequestRow("decr noreply", "decr k 1 noreply\r\n", [.request(.decr, key: "k", forward: "decr k 1", noreply: true)]),
    RequestRow("delete", "delete k\r\n", [.request(.delete, key: "k", forward: "delete k")]),
    RequestRow("delete with time 0", "delete k 0\r\n", [.request(.delete, key: "k", forward: "delete k")]),
    RequestRow("delete noreply", "delete k noreply\r\n", [.request(.delete, key: "k", forward: "delete k", noreply: true)]),
    RequestRow("delete with time 0 and noreply", "delete k 0 noreply\r\n",
               [.request(.delete, key: "k", forward: "delete k", noreply: true)]),
    // memcached sets noreply for delete only when a token follows the key
    // (process_delete_command: `if (ntokens > 3)`), so this deletes the key "noreply" and replies.
    RequestRow("delete of a key named noreply still wants a reply", "delete noreply\r\n",
               [.request(.delete, key: "noreply", forward: "delete noreply")]),
    RequestRow("touch", "touch k 300\r\n", [.request(.touch, key: "k", forward: "touch k 300")]),
    RequestRow("exptimes past 32 bits, as memcached takes them", "set k 0 2147483648 1\r\nx\r\ngats 4294967296 k\r\n",
               [.request(.set, key: "k", forward: "set k 0 2147483648 1", dataLength: 1), .data("x\r\n"),
                .retrieval(.gats, "k", argument: "4294967296")]),
    RequestRow("touch noreply with a negative exptime", "touch k -1 noreply\r\n",
               [.request(.touch, key: "k", forward: "touch k -1", noreply: true)]),

    // Broadcast and local commands
    RequestRow("flush_all", "flush_all\r\n", [.request(.flushAll)]),
    RequestRow("flush_all with a delay", "flush_all 30\r\n", [.request(.flushAll, argument: "30")]),
    RequestRow("flush_all noreply", "flush_all noreply\r\n", [.request(.flushAll, noreply: true)]),
    RequestRow("flush_all with a delay and noreply", "flush_all 30 noreply\r\n",
               [.request(.flushAll, argument: "30", noreply: true)]),
    RequestRow("verbosity", "verbosity 1\r\n", [.request(.verbosity, argument: "1")]),
    RequestRow("verbosity noreply", "verbosity 1 noreply\r\n", [.request(.verbosity, argument: "1", noreply: true)]),
    RequestRow("version", "version\r\n", [.request(.version)]),
    RequestRow("quit", "quit\r\n", [.request(.quit)]),
    RequestRow("stats", "stats\r\n", [.request(.stats)]),
    RequestRow("stats items", "stats items\r\n", [.request(.stats, argument: "items", hasArguments: true)]),
    RequestRow("stats with two arguments", "stats slabs  5\r\n", [.request(.stats, argument: "slabs  5", hasArguments: true)]),
    RequestRow("stats ending in \\n only", "stats\n", [.request(.stats)]),

    // Pipelines
    RequestRow("pipelined storage, retrieval, delete, incr and version",
               "set a 0 0 1\r\n1\r\nget a b\r\ndelete a noreply\r\nincr n 1\r\nversion\r\n", [
        .request(.set, key: "a", forward: "set a 0 0 1", dataLength: 1), .data("1\r\n"),
        .retrieval(.get, "a b"),
        .request(.delete, key: "a", forward: "delete a", noreply: true),
        .request(.incr, key: "n", forward: "incr n 1"),
        .request(.version),
    ]),
    RequestRow("pipelined sets back to back", "set a 0 0 2\r\naa\r\nadd b 0 0 3 noreply\r\nbbb\r\ncas c 1 2 1 7\r\nc\r\n", [
        .request(.set, key: "a", forward: "set a 0 0 2", dataLength: 2), .data("aa\r\n"),
        .request(.add, key: "b", forward: "add b 0 0 3", dataLength: 3, noreply: true), .data("bbb\r\n"),
        .request(.cas, key: "c", forward: "cas c 1 2 1 7", dataLength: 1), .data("c\r\n"),
    ]),
    RequestRow("pipelined gets with mixed line ends, then an unfinished line", "get a\nget b\r\ngets c d\r\nget e", [
        .retrieval(.get, "a"), .retrieval(.get, "b"), .retrieval(.gets, "c d"), .pending(5),
    ]),
    RequestRow("a command line of exactly the 16 KiB limit", paddedDelete(contentLength: ProtocolLimits.maxCommandLine),
               [.request(.delete, key: "k", forward: "delete k")]),
    // Meta commands: the key is checked, the flags pass through (q included; the forwarder drops it).
    RequestRow("meta get with flags", "mg a v f t k O9 q\r\n", [.request(.metaGet, key: "a", forward: "mg a v f t k O9 q")]),
    RequestRow("meta set streams its data block", "ms k 5 T0 F3 MR\r\nhello\r\n",
               [.request(.metaSet, key: "k", forward: "ms k 5 T0 F3 MR", dataLength: 5), .data("hello\r\n")]),
    RequestRow("meta delete", "md k q C12\r\n", [.request(.metaDelete, key: "k", forward: "md k q C12")]),
    RequestRow("meta arithmetic", "ma n N0 J5 D2 v\r\n", [.request(.metaArithmetic, key: "n", forward: "ma n N0 J5 D2 v")]),
    RequestRow("meta no-op ignores what follows", "mn extra\r\n", [.request(.metaNoop, forward: "mn extra")]),
    RequestRow("meta debug", "me k\r\n", [.request(.metaDebug, key: "k", forward: "me k")]),
    RequestRow("meta get of a base64 key", "mg YWJj b v\r\n", [.request(.metaGet, key: "YWJj", forward: "mg YWJj b v")]),
    RequestRow("meta set of a base64 key", "ms YWJj 1 b\r\nx\r\n",
               [.request(.metaSet, key: "YWJj", forward: "ms YWJj 1 b", dataLength: 1), .data("x\r\n")]),
]

let badRequests: [RequestRow] = [
    // Unknown commands: memcached says ERROR
    RequestRow("unknown verb", "foo bar\r\n", [.invalid(.unknownCommand)]),
    RequestRow("upper-case GET", "GET k\r\n", [.invalid(.unknownCommand)]),
    RequestRow("mixed-case Set", "Set k 0 0 1\r\n", [.invalid(.unknownCommand)]),
    RequestRow("empty line", "\r\n", [.invalid(.unknownCommand)]),
    RequestRow("empty line ending in \\n only", "\n", [.invalid(.unknownCommand)]),
    RequestRow("line of spaces", "    \r\n", [.invalid(.unknownCommand)]),
    RequestRow("a verb prefix", "ge k\r\n", [.invalid(.unknownCommand)]),
    RequestRow("get with no key", "get\r\n", [.invalid(.unknownCommand)]),
    RequestRow("get with only spaces after it", "get   \r\n", [.invalid(.unknownCommand)]),
    RequestRow("gets with no key", "gets\r\n", [.invalid(.unknownCommand)]),
    RequestRow("gat with an exptime but no key", "gat 10\r\n", [.invalid(.unknownCommand)]),
    RequestRow("set with too few tokens, then a get", "set k 0 0\r\nget k\r\n",
               [.invalid(.unknownCommand), .retrieval(.get, "k")]),
    RequestRow("cas without its unique", "cas k 0 0 1\r\n", [.invalid(.unknownCommand)]),
    RequestRow("set with too many tokens", "set k 0 0 1 noreply extra\r\n", [.invalid(.unknownCommand)]),
    RequestRow("incr without a delta", "incr k\r\n", [.invalid(.unknownCommand)]),
    RequestRow("touch with too many tokens", "touch k 1 noreply x\r\n", [.invalid(.unknownCommand)]),
    RequestRow("delete without a key", "delete\r\n", [.invalid(.unknownCommand)]),
    RequestRow("delete with too many tokens", "delete k 0 noreply x\r\n", [.invalid(.unknownCommand)]),
    RequestRow("verbosity without a level", "verbosity\r\n", [.invalid(.unknownCommand)]),
    RequestRow("an unknown command between good ones", "get a\r\nbogus\r\nget b\r\n",
               [.retrieval(.get, "a"), .invalid(.unknownCommand), .retrieval(.get, "b")]),

    // Bad keys: CLIENT_ERROR bad command line format
    RequestRow("get of a 251-byte key", "get \(key251)\r\n", [.invalid(.badCommandLine)]),
    RequestRow("get whose second key has 251 bytes", "get ok \(key251)\r\n", [.invalid(.badCommandLine)]),
    RequestRow("get of a key with a tab", "get a\tb\r\n", [.invalid(.badCommandLine)]),
    RequestRow("get of a key with a NUL byte; the NUL does not hide the line end",
               bytes: Array("get a".utf8) + [0] + Array("b\r\nget c\r\n".utf8), [.invalid(.badCommandLine), .retrieval(.get, "c")]),
    RequestRow("get of a key with DEL (0x7f)", bytes: Array("get a".utf8) + [127] + Array("b\r\n".utf8), [.invalid(.badCommandLine)]),
    RequestRow("get of a key with a lone \\r inside", "get a\rb\r\n", [.invalid(.badCommandLine)]),
    RequestRow("get of a key ending in \\r before \\r\\n", "get a\r\r\n", [.invalid(.badCommandLine)]),
    RequestRow("get whose last of three keys has a control byte", "get a b c\u{1}\r\n", [.invalid(.badCommandLine)]),
    RequestRow("gat of a key with a tab", "gat 1 a\tb\r\n", [.invalid(.badCommandLine)]),
    RequestRow("delete of a 251-byte key", "delete \(key251)\r\n", [.invalid(.badCommandLine)]),
    RequestRow("delete of a key with a tab", "delete a\tb\r\n", [.invalid(.badCommandLine)]),
    RequestRow("incr of a key with a NUL byte", bytes: Array("incr a".utf8) + [0] + Array(" 1\r\n".utf8), [.invalid(.badCommandLine)]),
    RequestRow("touch of a 251-byte key", "touch \(key251) 1\r\n", [.invalid(.badCommandLine)]),

    // Storage lines that are refused but whose data block is skipped
    RequestRow("set of a 251-byte key, then a get", "set \(key251) 0 0 1\r\nx\r\nget k\r\n",
               [.invalid(.badCommandLine), .discarded(3), .retrieval(.get, "k")]),
    RequestRow("set of a key with a tab", "set a\tb 0 0 1\r\nx\r\n", [.invalid(.badCommandLine), .discarded(3)]),
    RequestRow("set with non-numeric flags, then a get", "set k x 0 5\r\nhello\r\nget k\r\n",
               [.invalid(.badCommandLine), .discarded(7), .retrieval(.get, "k")]),
    RequestRow("set with negative flags", "set k -1 0 5\r\nhello\r\n", [.invalid(.badCommandLine), .discarded(7)]),
    RequestRow("set with flags above 32 bits", "set k 4294967296 0 1\r\nx\r\n", [.invalid(.badCommandLine), .discarded(3)]),
    RequestRow("set with a non-numeric exptime, then a get", "set k 0 x 5\r\nhello\r\nget k\r\n",
               [.invalid(.badCommandLine), .discarded(7), .retrieval(.get, "k")]),
    RequestRow("set with an exptime beyond 64 bits", "set k 0 99999999999999999999 1\r\nx\r\n", [.invalid(.badCommandLine), .discarded(3)]),
    RequestRow("add with bad flags, data holding a command", "add k z 0 7\r\nget a b\r\nversion\r\n",
               [.invalid(.badCommandLine), .discarded(9), .request(.version)]),
    RequestRow("cas with a non-numeric unique", "cas k 0 0 1 x\r\nx\r\n", [.invalid(.badCommandLine), .discarded(3)]),
    RequestRow("set with bad flags and a zero length", "set k x 0 0\r\n\r\nquit\r\n",
               [.invalid(.badCommandLine), .discarded(2), .request(.quit)]),

    // Storage lines whose length cannot be trusted: the stream is lost
    RequestRow("set with a non-numeric length", "set k 0 0 x\r\nhello\r\n", [.fatal(.badCommandLine)]),
    RequestRow("set with a negative length", "set k 0 0 -1\r\nhello\r\n", [.fatal(.badCommandLine)]),
    RequestRow("set with a length past Int32", "set k 0 0 2147483647\r\n", [.fatal(.badCommandLine)]),
    RequestRow("cas with a non-numeric length", "cas k 0 0 x 1\r\n", [.fatal(.badCommandLine)]),

    // Bad numbers
    RequestRow("incr by a non-number", "incr k x\r\n", [.invalid(.invalidDelta)]),
    RequestRow("incr by a negative number", "incr k -1\r\n", [.invalid(.invalidDelta)]),
    RequestRow("decr by more than 64 bits", "decr k 18446744073709551616\r\n", [.invalid(.invalidDelta)]),
    RequestRow("touch with a non-numeric exptime", "touch k x\r\n", [.invalid(.invalidExptime)]),
    RequestRow("gat with a non-numeric exptime", "gat x k\r\n", [.invalid(.invalidExptime)]),
    RequestRow("gats with an exptime beyond 64 bits", "gats 99999999999999999999 k\r\n", [.invalid(.invalidExptime)]),
    RequestRow("flush_all with a non-numeric delay", "flush_all x\r\n", [.invalid(.invalidExptime)]),
    RequestRow("flush_all with a non-numeric delay and noreply", "flush_all x noreply\r\n", [.invalid(.invalidExptime)]),
    RequestRow("delete with a non-zero time", "delete k 5\r\n", [.invalid(.badDeleteUsage)]),
    RequestRow("delete with a non-zero time and noreply", "delete k 5 noreply\r\n", [.invalid(.badDeleteUsage)]),
    RequestRow("delete with a time and a word not noreply", "delete k 0 later\r\n", [.invalid(.badDeleteUsage)]),
    RequestRow("verbosity with a non-numeric level", "verbosity x\r\n", [.invalid(.badCommandLine)]),
    RequestRow("a bad command then a good one", "incr k x\r\nincr k 1\r\n",
               [.invalid(.invalidDelta), .request(.incr, key: "k", forward: "incr k 1")]),

    // Line length
    RequestRow("a 20 KB line without a newline", "set " + String(repeating: "k", count: 20_000), [.fatal(.lineTooLong)]),
    RequestRow("a 20 KB line with a newline", "set " + String(repeating: "k", count: 20_000) + " 0 0 1\r\nx\r\n",
               [.fatal(.lineTooLong)]),
    RequestRow("a command line one byte over the 16 KiB limit",
               paddedDelete(contentLength: ProtocolLimits.maxCommandLine + 1), [.fatal(.lineTooLong)]),
    // Binary protocol (compat §6 defect 13: binary clients hung)
    RequestRow("a binary-protocol get is refused at once", bytes: [0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00],
               [.fatal(.binaryProtocol)]),
    RequestRow("a binary-protocol request after a text one", bytes: Array("version\r\n".utf8) + [0x80, 0x0a, 0x00, 0x00],
               [.request(.version), .fatal(.binaryProtocol)]),
    RequestRow("a 20 KB get line still waiting for its newline",
               "get " + String(repeating: "k ", count: 10_000), [.pending(20_004)]),
    // Meta errors, as memcached 1.6 answers them.
    RequestRow("meta get without a key", "mg\r\n", [.invalid(.unknownCommand)]),
    RequestRow("meta debug without a key", "me\r\n", [.invalid(.badCommandLine)]),
    RequestRow("meta set without a length", "ms k\r\n", [.invalid(.badCommandLine)]),
    RequestRow("meta set with a bad length keeps what follows as a line", "ms k abc\r\nversion\r\n",
               [.invalid(.badCommandLine), .request(.version)]),
    RequestRow("meta set with a key too long keeps its data as a line",
               "ms \(String(repeating: "k", count: 251)) 2\r\nhi\r\n", [.invalid(.badCommandLine), .invalid(.unknownCommand)]),
    RequestRow("meta set with an undecodable base64 key swallows its data", "ms x 2 b\r\nhi\r\nversion\r\n",
               [.invalid(.badKeyEncoding), .discarded(4), .request(.version)]),
    RequestRow("meta get with an undecodable base64 key", "mg a=bc b v\r\n", [.invalid(.badKeyEncoding)]),
]

// MARK: - Tests

@Suite struct RequestParserTests {
    @Test("good requests parse the same however they are split", arguments: goodRequests, Feeding.all)
    func goodRequest(_ row: RequestRow, _ feeding: Feeding) {
        let events = parseRequests(row.input, feeding: feeding)
        #expect(events == row.expected, "\(row.name), fed \(feeding)")
    }

    @Test("bad requests get memcached's error however they are split", arguments: badRequests, Feeding.all)
    func badRequest(_ row: RequestRow, _ feeding: Feeding) {
        let events = parseRequests(row.input, feeding: feeding)
        #expect(events == row.expected, "\(row.name), fed \(feeding)")
    }

    @Test("every row parses the same when split in two at any point",
          arguments: (goodRequests + badRequests).filter { $0.input.count <= 600 })
    func everyTwoPieceSplit(_ row: RequestRow) {
        for feeding in Feeding.everyTwoPieceSplit(of: row.input.count) {
            let events = parseRequests(row.input, feeding: feeding)
            #expect(events == row.expected, "\(row.name), fed \(feeding)")
            if events != row.expected { break }
        }
    }

    @Test("the tables name every command at least once")
    func tablesCoverEveryCommand() {
        var seen = Set<Command>()
        for row in goodRequests {
            for event in row.expected {
                if case .parsed(let summary) = event { seen.insert(summary.command) }
            }
        }
        #expect(seen == Set(Command.allCases))
    }

    /// ProtocolLimits.maxRetrievalLine bounds a get line however the line arrives; the
    /// line is refused whether its newline comes in the same read or a later one.
    @Test("a get line over the 4 MiB retrieval limit is refused however it is split")
    func retrievalLineOverTheLimit() {
        var line = Array("get ".utf8)
        let key = Array(String(repeating: "x", count: 249).utf8)
        while line.count <= ProtocolLimits.maxRetrievalLine + 10 {
            line += key
            line.append(32)
        }
        line += Array("last\r\n".utf8)
        for feeding in [Feeding.whole, .pieces([line.count - 1]), .pieces([ProtocolLimits.maxRetrievalLine + 1])] {
            #expect(parseRequests(line, feeding: feeding) == [.fatal(.lineTooLong)], "fed \(feeding)")
        }
    }

    /// The same line of exactly ProtocolLimits.maxCommandLine bytes before its \r\n, once
    /// whole and once with the \n in a later read.
    @Test("a command line of exactly 16 KiB is accepted whether or not its \\n comes later")
    func commandLineAtTheLimit() {
        let line = Array(paddedDelete(contentLength: ProtocolLimits.maxCommandLine).utf8)
        let expected: [RequestEvent] = [.request(.delete, key: "k", forward: "delete k")]
        #expect(parseRequests(line, feeding: .whole) == expected, "fed whole")
        #expect(parseRequests(line, feeding: .pieces([line.count - 1])) == expected, "fed with the \\n apart")
    }

    @Test("a get line just under the 4 MiB retrieval limit is accepted however it is split")
    func retrievalLineUnderTheLimit() {
        var line = Array("get ".utf8)
        while line.count < ProtocolLimits.maxRetrievalLine - 300 {
            line += Array(String(repeating: "y", count: 249).utf8)
            line.append(32)
        }
        line += Array("last\r\n".utf8)
        let keys = Array(line[4..<(line.count - 2)])
        let expected: [RequestEvent] = [.parsed(RequestSummary(
            command: .get, key: Array(String(repeating: "y", count: 249).utf8), keys: keys, argument: [], forward: [],
            dataLength: 0, noreply: false, hasArguments: false))]
        for feeding in [Feeding.whole, .pieces([line.count - 1]), .randomChunks(seed: 3)] {
            #expect(parseRequests(line, feeding: feeding) == expected, "fed \(feeding)")
        }
    }

    @Test("the parser reports its position in a data block")
    func dataBlockState() {
        var parser = RequestParser()
        #expect(!parser.isInDataBlock)
        #expect(parser.dataRemaining == 0)
        let line = Array("set k 0 0 5\r\nhel".utf8)
        let first = line.withUnsafeBytes { parser.next($0) }
        guard case .request(let request) = first else {
            Issue.record("expected a request, got \(first)")
            return
        }
        #expect(request.lineLength == 13)
        #expect(parser.isInDataBlock)
        #expect(parser.dataRemaining == 7)
        let data = line.withUnsafeBytes { parser.next(UnsafeRawBufferPointer(rebasing: $0[13...])) }
        #expect(data == .data(count: 3, isLast: false))
        #expect(parser.dataRemaining == 4)
        let empty = [UInt8]().withUnsafeBytes { parser.next($0) }
        #expect(empty == .needMoreData)
        let rest = Array("lo\r\nget k\r\n".utf8)
        let last = rest.withUnsafeBytes { parser.next($0) }
        #expect(last == .data(count: 4, isLast: true))
        #expect(!parser.isInDataBlock)
        #expect(parser.dataRemaining == 0)
    }

    @Test("an unfinished line is rescanned only from where the last call stopped")
    func resumesAnUnfinishedLine() {
        var parser = RequestParser()
        let whole = Array("get abc\r\n".utf8)
        #expect(whole.withUnsafeBytes { parser.next(UnsafeRawBufferPointer(rebasing: $0[0..<4])) } == .needMoreData)
        #expect(whole.withUnsafeBytes { parser.next(UnsafeRawBufferPointer(rebasing: $0[0..<8])) } == .needMoreData)
        let step = whole.withUnsafeBytes { parser.next($0) }
        guard case .request(let request) = step else {
            Issue.record("expected a request, got \(step)")
            return
        }
        #expect(request.lineLength == 9)
        #expect(request.key == ByteRange(start: 4, count: 3))
        #expect(request.keys == ByteRange(start: 4, count: 3))
    }

    @Test("LineTokens walks the keys of a retrieval line")
    func keyIterator() {
        let line = Array("get  a bb   ccc  ".utf8)
        var iterator = LineTokens(range: ByteRange(start: 5, count: line.count - 5))
        var keys: [String] = []
        line.withUnsafeBytes { raw in
            while let key = iterator.next(in: raw) {
                keys.append(String(decoding: raw[key.start..<key.end], as: UTF8.self))
                if keys.count > 10 { break }
            }
        }
        #expect(keys == ["a", "bb", "ccc"])
    }

    @Test("--allow-control-keys passes control bytes in keys, but never NUL, CR or LF")
    func controlKeysWhenAllowed() {
        func parse(_ bytes: [UInt8]) -> ParseStep {
            var parser = RequestParser(allowControlKeys: true)
            return bytes.withUnsafeBytes { parser.next($0) }
        }
        for byte: UInt8 in [1, 9, 0x10, 0x1b, 0x7f] {
            guard case .request(let request) = parse(Array("get a".utf8) + [byte] + Array("b\r\n".utf8)) else {
                Issue.record("key with byte \(byte) refused")
                continue
            }
            #expect(request.keys.count == 3)
        }
        for byte: UInt8 in [0, 13] {
            #expect(parse(Array("get a".utf8) + [byte] + Array("b\r\n".utf8)) == .invalid(.badCommandLine, consumed: 9))
        }
    }

    @Test("a value past the value limit is refused and its data block skipped, for every storage verb")
    func valueTooLarge() {
        for line in ["set k 0 0 11\r\n", "add k 0 0 11 noreply\r\n", "cas k 0 0 11 5\r\n"] {
            var parser = RequestParser(maxValueLength: 10)
            let input = Array((line + "hello world\r\nversion\r\n").utf8)
            var steps: [ParseStep] = []
            var offset = 0
            for _ in 0..<10 where offset < input.count {
                let step = input.withUnsafeBytes { parser.next(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                steps.append(step)
                switch step {
                case .invalid(_, let consumed): offset += consumed
                case .discarded(let count): offset += count
                case .request(let request): offset += request.lineLength
                default: offset = input.count
                }
            }
            #expect(steps.count == 3, "\(line): \(steps)")
            #expect(steps.first == .invalid(.valueTooLarge, consumed: line.utf8.count), "\(line)")
            #expect(steps.dropFirst().first == .discarded(count: 13), "\(line)")
            if case .request(let request) = steps.last { #expect(request.command == .version) } else { Issue.record("\(steps)") }
        }
        // At the limit it is a request.
        var parser = RequestParser(maxValueLength: 11)
        guard case .request = Array("set k 0 0 11\r\n".utf8).withUnsafeBytes({ parser.next($0) }) else {
            Issue.record("a value at the limit was refused")
            return
        }
    }

    @Test("verbosity noreply is silent and changes nothing, as in memcached")
    func verbosityNoreply() {
        var parser = RequestParser()
        let step = Array("verbosity noreply\r\n".utf8).withUnsafeBytes { parser.next($0) }
        guard case .request(let request) = step else {
            Issue.record("verbosity noreply refused: \(step)")
            return
        }
        #expect(request.command == .verbosity && request.noreply && request.argument.count == 0)
    }

    @Test("ClientError replies are memcached's texts", arguments: [
        (ClientError.unknownCommand, "ERROR\r\n"),
        (.badCommandLine, "CLIENT_ERROR bad command line format\r\n"),
        (.badDeleteUsage, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
        (.invalidExptime, "CLIENT_ERROR invalid exptime argument\r\n"),
        (.invalidDelta, "CLIENT_ERROR invalid numeric delta argument\r\n"),
        (.lineTooLong, "CLIENT_ERROR line too long\r\n"),
        (.valueTooLarge, "SERVER_ERROR object too large for cache\r\n"),
        (.badKeyEncoding, "CLIENT_ERROR error decoding key\r\n"),
        (.binaryProtocol, "CLIENT_ERROR binary protocol packet on a text connection\r\n"),
    ])
    func clientErrorReplyText(_ error: ClientError, _ text: String) {
        #expect(error.replyText.description == text)
    }

    @Test("every verb is matched by its exact lower-case text", arguments: Command.allCases)
    func verbMatching(_ command: Command) {
        let verb = command.verb.description
        #expect(Array(verb.utf8).withUnsafeBytes { Command.match($0) } == command)
        #expect(Array(verb.uppercased().utf8).withUnsafeBytes { Command.match($0) } == nil)
        #expect(Array((verb + "x").utf8).withUnsafeBytes { Command.match($0) } == nil)
        #expect(Array(verb.dropLast().utf8).withUnsafeBytes { Command.match($0) } != command)
        #expect(Array(verb.dropFirst().utf8).withUnsafeBytes { Command.match($0) } == nil)
    }

    @Test("command classes")
    func commandClasses() {
        #expect(Command.allCases.filter(\.isRetrieval) == [.get, .gets, .gat, .gats])
        #expect(Command.allCases.filter(\.hasDataBlock) == [.set, .add, .replace, .append, .prepend, .cas, .metaSet])
        #expect(Command.allCases.filter(\.isMeta) == [.metaGet, .metaSet, .metaDelete, .metaArithmetic, .metaNoop, .metaDebug])
        #expect(Command.allCases.filter(\.isKeyedWrite)
            == [.set, .add, .replace, .append, .prepend, .cas, .incr, .decr, .delete, .touch])
        #expect(Command.allCases.filter(\.isBroadcast) == [.flushAll, .verbosity])
        #expect(Command.flushAll.verb.description == "flush_all")
    }
}
