// `stats key <key>`: asks the key's primary and backup whether each holds the
// key, without touching it (`mg <key>`, or a classic get where the server
// lacks meta gets); the executor then writes where the key lives.

/// Whether a server holds a key, as far as the proxy could learn.
enum KeyPresence: UInt8, Equatable, Sendable {
    case yes, no
    /// The server is down, did not answer in time, or answered an error.
    case unknown

    var text: String {
        switch self {
        case .yes: return "yes"
        case .no: return "no"
        case .unknown: return "unknown"
        }
    }
}

struct KeyLocationJob: Equatable, Sendable {
    /// What each server said; `.unknown` until it answers (and if it never does).
    private(set) var primary = KeyPresence.unknown
    private(set) var backup = KeyPresence.unknown
    private(set) var isFinished = false
    private var waitingOnPrimary = false
    private var waitingOnBackup = false
    /// A classic get's VALUE came before its END.
    private var primaryItemSeen = false
    private var backupItemSeen = false

    func presence(_ role: ServerRole) -> KeyPresence { role == .primary ? primary : backup }

    /// Whether a `stats` argument (what follows `stats `) asks for the `key` group.
    static func isKeyGroup(_ argument: UnsafeRawBufferPointer) -> Bool {
        guard let first = LineTokens.token(0, of: argument) else { return false }
        return argument[first].elementsEqual("key".utf8)
    }

    /// The key of `key <key>` (a `stats` argument), checked as memcached checks
    /// a key: 1...250 bytes, no control characters (with --allow-control-keys
    /// only NUL is refused). nil: missing, invalid or followed by more tokens,
    /// all answered `CLIENT_ERROR bad command line format` as memcached does.
    static func requestedKey(in argument: UnsafeRawBufferPointer, allowControlKeys: Bool) -> ByteRange? {
        var tokens = LineTokens(range: ByteRange(start: 0, count: argument.count))
        guard tokens.skip(1, in: argument), let key = tokens.next(in: argument), tokens.next(in: argument) == nil,
              key.count <= ProtocolLimits.maxKeyLength else { return nil }
        for byte in argument[key] {
            if allowControlKeys ? byte == 0 || byte == 13 || byte == 10 : byte < 32 || byte == 127 { return nil }
        }
        return key
    }

    mutating func handle(_ event: JobEvent) -> JobActions {
        guard !isFinished else { return JobActions() }
        switch event {
        case .start(let status):
            var actions = JobActions()
            if status.primaryUp {
                waitingOnPrimary = true
                actions.append(.send(.probeKey(asMetaGet: status.primaryAnswersMetaGets), to: .primary))
            }
            if status.backupUsable {
                waitingOnBackup = true
                actions.append(.send(.probeKey(asMetaGet: status.backupAnswersMetaGets), to: .backup))
            }
            // Neither is in use: nothing to ask, both unknown.
            if !waitingOnPrimary && !waitingOnBackup { finish(into: &actions) }
            return actions
        case .itemStarted(let role, _):
            guard isWaiting(on: role) else { return JobActions() }
            if role == .primary { primaryItemSeen = true } else { backupItemSeen = true }
            return JobActions()
        case .ended(let role, _):
            // END of a classic get (after its VALUE or not), or EN of a meta get.
            let seen = role == .primary ? primaryItemSeen : backupItemSeen
            return answer(role, seen ? .yes : .no)
        case .line(let role, let line, _):
            switch line {
            case .success: return answer(role, .yes)
            case .miss: return answer(role, .no)
            case .unknownCommand:
                // ERROR to `mg`: the server lacks meta gets (asked with a classic get from now on).
                guard isWaiting(on: role) else { return JobActions() }
                var actions = JobActions(.serverLacksMetaGets(role))
                let rest = answer(role, .unknown)
                for index in 0..<rest.count { actions.append(rest[index]) }
                return actions
            default: return answer(role, .unknown)
            }
        case .failed(let role, _, _, _):
            return answer(role, .unknown)
        default:
            return JobActions()  // value bytes are not passed; client and merge events are not its
        }
    }

    private func isWaiting(on role: ServerRole) -> Bool { role == .primary ? waitingOnPrimary : waitingOnBackup }

    /// The server in `role` answered (or failed); once both have, the reply is written.
    private mutating func answer(_ role: ServerRole, _ presence: KeyPresence) -> JobActions {
        guard isWaiting(on: role) else { return JobActions() }
        if role == .primary {
            waitingOnPrimary = false
            primary = presence
        } else {
            waitingOnBackup = false
            backup = presence
        }
        var actions = JobActions()
        if !waitingOnPrimary && !waitingOnBackup { finish(into: &actions) }
        return actions
    }

    private mutating func finish(into actions: inout JobActions) {
        isFinished = true
        actions.append(.passKeyLocation)
        actions.append(.completeReply)
    }
}
