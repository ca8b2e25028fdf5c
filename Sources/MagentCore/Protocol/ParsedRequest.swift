// One command line as the parser found it: offsets into the bytes it was
// parsed from, never copies, so parsing allocates nothing.

/// A byte range inside the parsed input.
public struct ByteRange: Sendable, Equatable {
    public var start: Int
    public var count: Int
    public init(start: Int, count: Int) { self.start = start; self.count = count }
    public var end: Int { start + count }
    public static let empty = ByteRange(start: 0, count: 0)
}

public struct ParsedRequest: Sendable, Equatable {
    public var command: Command
    /// Bytes of the command line including its line end.
    public var lineLength: Int
    /// The key of a single-key command; the first key of a retrieval.
    public var key: ByteRange
    /// Retrieval: every key lies in this range, separated by spaces.
    public var keys: ByteRange
    /// gat/gats exptime, flush_all delay, verbosity level.
    public var argument: ByteRange
    /// The part of the line to send to a backend: from the verb to the last
    /// token kept (no trailing noreply), without the line end.
    public var forward: ByteRange
    /// Storage commands: the declared value length, without its \r\n.
    public var dataLength: Int
    /// The client asked for no reply.
    public var noreply: Bool
    /// `stats` with arguments.
    public var hasArguments: Bool
    /// Meta commands: the flags that matter for routing. `forward` then runs
    /// from the verb to the end of the line (flags included, q among them).
    public var meta: MetaFlags

    init(command: Command, lineLength: Int) {
        self.command = command
        self.lineLength = lineLength
        key = .empty
        keys = .empty
        argument = .empty
        forward = .empty
        dataLength = 0
        noreply = false
        hasArguments = false
        meta = MetaFlags()
    }
}
