// What a job decides, as data: send this request to that server, pass these
// bytes to the client, keep or forget a delete, count an event. The jobs
// return these; the executor is the one place that carries them out.

/// A request a job sends. Those marked silent go with a detached handle:
/// their reply is read and dropped, and the job does not wait for it.
enum SendRequest: Equatable, Sendable {
    /// The request as the client made it: its line, with the value the client
    /// is still streaming (or a binary request's inline value).
    case request
    /// The kept line and the kept copy of its value, whole (a fallback to the
    /// backup, or a write sent after its key was restored).
    case keptRequest
    /// A retrieval share's request line, or one `mg <key> v f [c]` per key.
    case share(asMetaGets: Bool)
    /// `mg <key> s v f t`: the key's item with its flags and remaining TTL (a
    /// restore reads the backup's copy, a replication the primary's).
    case lookupKey
    /// `mg <key> s v f t [c]` for each key a share missed, one reply each.
    case lookupMissingKeys
    /// Silent: the copy the job kept (`keepCopy`), as the storage line its
    /// verb says followed by the value.
    case keptCopy
    /// Silent: the kept value of an add, replace or cas, as a `set`.
    case keptValueAsSet
    /// Silent: a `delete` of the job's key.
    case deleteKey
    /// The broadcast line, to every distinct server in use.
    case everyServer
    /// `stats`: its STAT lines come to the job (memcached-format `stats` sums them).
    case stats
    /// `stats key`: `mg <key>` (HD or EN, the item untouched), or `get <key>`
    /// to a server that lacks meta gets.
    case probeKey(asMetaGet: Bool)
}

/// How a kept copy is written: `add` never overwrites anything newer (a
/// restore, a repair's write-back), `set` makes the copy equal (replication).
enum CopyVerb: UInt8, Equatable, Sendable {
    case add, set
}

enum JobAction: Equatable, Sendable {
    case send(SendRequest, to: ServerRole)
    /// Keep a copy of the request's value (streamed by the client, or inline).
    case captureValue

    // MARK: Toward the client (through the job's framing)

    /// The bytes of the current event, as they are.
    case pass
    /// The current VA header, as the VALUE line of the key it answers.
    case passAsValue
    /// The reply line kept earlier (`keepReply`).
    case passKeptReply
    /// The error (or binary status) for a request no server answered.
    case passFailure(BackendFailure)
    /// OK if every server said OK, else an error.
    case passBroadcastResult(allOK: Bool)
    /// Keep the current reply line: the backup's, in case the primary does
    /// not answer; a recovering primary's NOT_FOUND to a delete, in case the
    /// backup does not say DELETED.
    case keepReply
    /// Drop what the reply holds so far: it is asked again elsewhere.
    case restartReply
    /// A value was cut off mid-way: take it out of the reply or, if part of it
    /// already reached the client, end the client's connection.
    case dropOpenItem
    /// The reply is whole.
    case completeReply
    /// A merge: every share's items, in the order the keys were asked.
    case assembleMerge
    /// A merge of `stats` shares: the primaries' STAT lines summed into
    /// memcached-format `stats`.
    case assembleStatsTotals
    /// `stats key`: where the key lives (KeyLocationBlock), from the job's
    /// answers and the servers' state and kept keys now.
    case passKeyLocation

    // MARK: Bookkeeping

    case count(ProxyCounter)
    /// The server in `role` missed a delete: kept for when it is back.
    case keepDelete(ServerRole)
    /// The server in `role` missed a write (or may have): its copy is older
    /// than the other. Kept: the key is dropped from it when it is back, or
    /// copied to it from the other copy if it stayed in use.
    case keepMissedWrite(ServerRole)
    /// The server in `role` stored the key again: what is kept for it there
    /// must not undo that (it becomes a kept write, settled from the other copy).
    case keptKeyWritten(ServerRole)
    /// The server in `role` answered ERROR to a meta get: classic gets from now on.
    case serverLacksMetaGets(ServerRole)
    /// A share asked with miss failover got a VALUE: every key asked before its key was a miss.
    case noteAnswered
    /// The next reply answers the next key (meta gets, repair).
    case nextKey
    /// The current event's bytes go into the copy being kept: a VA header
    /// becomes the storage line of `verb`, value bytes are appended.
    case keepCopy(CopyVerb)
    /// Starts a replication job: the key read back from the primary and set
    /// on the backup. `answersClient`: the job's reply slot and its kept
    /// reply (the primary's line) go to the replication, which passes the
    /// line once the backup's copy is on its way, or an error if the primary
    /// cannot be read back (it may have died with the write, which the
    /// backup lacks).
    case startReplication(answersClient: Bool)
    /// Starts a repair job for the keys this share missed; it takes over the
    /// reply. Completes the reply instead when there is nothing to repair.
    case startRepair
}

/// The actions of one event, in order; at most `capacity`, kept inline (no allocation).
struct JobActions: Equatable, Sendable {
    static let capacity = 8
    private var storage = InlineArray<8, JobAction>(repeating: .pass)
    private(set) var count = 0

    init() {}

    init(_ actions: JobAction...) {
        for action in actions { append(action) }
    }

    mutating func append(_ action: JobAction) {
        precondition(count < Self.capacity, "a job event produced more than \(Self.capacity) actions")
        storage[count] = action
        count += 1
    }

    subscript(index: Int) -> JobAction { storage[index] }

    var isEmpty: Bool { count == 0 }

    /// For tests and logs.
    var list: [JobAction] { (0..<count).map { storage[$0] } }

    static func == (lhs: JobActions, rhs: JobActions) -> Bool { lhs.list == rhs.list }
}
