// The primaries' own `stats`, summed, for memcached-format `stats`: what only
// the servers know (items held, bytes used, memory limit, evictions).

/// Sums the STAT lines of whole `stats` replies, one server's reply at a time.
public struct BackendStatsTotals: Sendable, Equatable {
    /// The STAT names summed, in the order memcached-format `stats` lists them.
    public static let names = ["limit_maxbytes", "bytes", "curr_items", "total_items", "evictions"]

    /// By position in `names`.
    public private(set) var values: [Int]
    /// Replies added that held at least one STAT line: the servers the sums cover.
    public private(set) var servers = 0

    public init() { values = Array(repeating: 0, count: Self.names.count) }

    /// The sum for one of `names`; 0 for any other name.
    public func value(_ name: String) -> Int {
        guard let index = Self.names.firstIndex(of: name) else { return 0 }
        return values[index]
    }

    /// Adds one server's reply, `STAT <name> <value>` lines each ending in
    /// \r\n (an END line, or none, may follow). Lines of other names, and values
    /// that are not unsigned decimals, are skipped; a reply without any STAT
    /// line (the server failed before answering) counts for nothing.
    public mutating func add(reply: UnsafeRawBufferPointer) {
        var sawStatLine = false
        var lineStart = 0
        while lineStart < reply.count {
            var lineEnd = lineStart
            while lineEnd < reply.count && reply[lineEnd] != 10 { lineEnd += 1 }
            let line = reply[ByteRange(start: lineStart, count: lineEnd - lineStart)]
            lineStart = lineEnd + 1
            guard let verb = LineTokens.token(0, of: line), line[verb].elementsEqual("STAT".utf8) else { continue }
            sawStatLine = true
            guard let name = LineTokens.token(1, of: line), let value = LineTokens.token(2, of: line),
                  let index = Self.names.firstIndex(where: { line[name].elementsEqual($0.utf8) }),
                  let number = LineTokens.decimal(line, value) else { continue }
            let (sum, overflow) = values[index].addingReportingOverflow(Int(clamping: number))
            values[index] = overflow ? Int.max : sum
        }
        if sawStatLine { servers += 1 }
    }
}
