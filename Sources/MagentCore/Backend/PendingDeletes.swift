// Keys a server missed while it was unreachable or failing: a delete, or a
// write (its copy there is older than the other copy). Kept until the server
// is reachable again, so a deleted key never returns and an old value is
// never served through a stale copy. Bounded per server.
//
// Client writes and the refiller meet here: a client write of a kept key is
// counted while it is in flight, and every change bumps the entry's version,
// so the refiller forgets an entry only if nothing touched the key while it
// gave the server the other copy's state (else it tries again next pass).
//
// With --state-dir every change is also written to a journal
// (KeptKeysJournal), by server name, so a restarted proxy starts knowing it.

public final class PendingDeletes: Sendable {
    /// What is kept for one key on one server.
    public struct Entry: Equatable, Sendable {
        /// The missed request was a write (its state comes from the other copy), else a delete.
        public var missedWrite: Bool
        /// Bumped by every change to the entry and by each client write of the key.
        public var version: UInt32
        /// Client writes of the key sent and not yet finished.
        public var writesInFlight: Int32
    }

    /// Keys kept per server; past this, entries are dropped and counted.
    public let limitPerServer: Int
    /// What the lock guards: the entries, and the journal they are written to.
    private struct Lists {
        var entries: [[[UInt8]: Entry]]
        /// Entries over every server.
        var total = 0
        var journal: KeptKeysJournal?
        var logger: Logger?
        /// By server id: the name the journal knows it by.
        var names: [String?]
        /// Servers whose list was full when a key had to be kept.
        var overflowed: Set<Int> = []

        /// Writes `record` for `server` to the journal, if there is one.
        mutating func journal(_ record: (String) -> KeptKeysRecord, server: Int) {
            guard let journal, let name = names[server] else { return }
            if let failure = journal.append(record(name)) { logger?.error("kept-keys journal off: \(failure)") }
            if journal.wantsCompaction(liveRecords: total) { compact() }
        }

        /// Rewrites the journal with what is kept now.
        mutating func compact() {
            guard let journal else { return }
            var records: [KeptKeysRecord] = []
            records.reserveCapacity(total)
            for (server, list) in entries.enumerated() {
                guard let name = names[server] else { continue }
                for (key, entry) in list { records.append(.kept(server: name, key: key, missedWrite: entry.missedWrite)) }
                if overflowed.contains(server) { records.append(.overflowed(server: name)) }
            }
            if let failure = journal.rewrite(records) { logger?.error("kept-keys journal off: \(failure)") }
        }

        /// An entry of `server` is gone.
        mutating func forgotten(server: Int, key: [UInt8]) {
            total -= 1
            if truncateIfEmpty() { return }
            journal({ .forgotten(server: $0, key: key) }, server: server)
        }

        /// Nothing kept and nothing overflowed: the journal goes back to its header.
        mutating func truncateIfEmpty() -> Bool {
            guard total == 0, overflowed.isEmpty, let journal else { return false }
            if let failure = journal.truncate() { logger?.error("kept-keys journal off: \(failure)") }
            return true
        }
    }

    private let keys: ThreadLock<Lists>
    /// Keys kept per server, readable without the lock (the request path
    /// looks here first, so a server with nothing kept costs one load), and
    /// how many of them are missed writes.
    private let counts: CounterBlock
    private let writeCounts: CounterBlock
    /// Entries dropped because a server's list was full.
    public let overflows = Counter()

    init(servers: Int, limitPerServer: Int = 100_000) {
        self.limitPerServer = limitPerServer
        keys = ThreadLock(Lists(entries: Array(repeating: [:], count: servers), names: Array(repeating: nil, count: servers)))
        counts = CounterBlock(count: servers)
        writeCounts = CounterBlock(count: servers)
    }

    /// `server` missed a delete (`missedWrite` false) or a write of `key`; the
    /// latest one it missed is what is kept. Returns false when the server's
    /// list is full: the key is dropped and counted, and the server must be
    /// flushed and refilled before it is used again (ServerHealth.keptKeysOverflowed).
    @discardableResult
    func add(server: Int, key: UnsafeRawBufferPointer, missedWrite: Bool = false) -> Bool {
        let stored = keys.withLock { keep(Array(key), server: server, missedWrite: missedWrite, in: &$0) }
        if !stored { overflows.add(1) }
        return stored
    }

    /// Keeps `key` for `server` in `lists` (and journals the change, once a
    /// journal is attached). False when the server's list is full: it has
    /// overflowed.
    private func keep(_ key: [UInt8], server: Int, missedWrite: Bool, in lists: inout Lists) -> Bool {
        if var entry = lists.entries[server][key] {
            // The latest request it missed decides what it must be given.
            let changed = entry.missedWrite != missedWrite
            if changed { writeCounts.addFromAnyThread(server, missedWrite ? 1 : -1) }
            entry.missedWrite = missedWrite
            entry.version &+= 1
            lists.entries[server][key] = entry
            if changed { lists.journal({ .kept(server: $0, key: key, missedWrite: missedWrite) }, server: server) }
            return true
        }
        guard lists.entries[server].count < limitPerServer else {
            if lists.overflowed.insert(server).inserted { lists.journal({ .overflowed(server: $0) }, server: server) }
            return false
        }
        lists.entries[server][key] = Entry(missedWrite: missedWrite, version: 0, writesInFlight: 0)
        lists.total += 1
        counts.addFromAnyThread(server, 1)
        if missedWrite { writeCounts.addFromAnyThread(server, 1) }
        lists.journal({ .kept(server: $0, key: key, missedWrite: missedWrite) }, server: server)
        return true
    }

    /// `server` was flushed: everything kept for it is forgotten, and it is
    /// no longer overflowed.
    func clear(server: Int) {
        keys.withLock { lists in
            let list = lists.entries[server]
            lists.entries[server] = [:]
            lists.total -= list.count
            counts.addFromAnyThread(server, -list.count)
            writeCounts.addFromAnyThread(server, -writeCounts.value(server))
            lists.overflowed.remove(server)
            if !lists.truncateIfEmpty() { lists.journal({ .cleared(server: $0) }, server: server) }
        }
    }

    func contains(server: Int, key: UnsafeRawBufferPointer) -> Bool {
        guard counts.value(server) > 0 else { return false }
        return keys.withLock { lists in lists.entries[server][Array(key)] != nil }
    }

    /// Whether the latest request `server` missed for `key` is a delete:
    /// its copy there must not come back. (A kept write leaves a copy that
    /// may be older than the other one, but is the best left where the
    /// other copy lost the key.)
    func isKeptDelete(server: Int, key: UnsafeRawBufferPointer) -> Bool {
        guard counts.value(server) > 0 else { return false }
        return keys.withLock { lists in lists.entries[server][Array(key)]?.missedWrite == false }
    }

    /// Whether `key` is kept for `server` as a missed write; nil when not kept.
    func missedWrite(server: Int, key: [UInt8]) -> Bool? { entry(server: server, key: key)?.missedWrite }

    /// The entry kept for `key` on `server`, nil when none.
    func entry(server: Int, key: [UInt8]) -> Entry? {
        guard counts.value(server) > 0 else { return nil }
        return keys.withLock { lists in lists.entries[server][key] }
    }

    /// Every key kept for `server`.
    func count(server: Int) -> Int { counts.value(server) }

    /// Kept deletes and kept missed writes, apart (for stats).
    func deleteCount(server: Int) -> Int { counts.value(server) - writeCounts.value(server) }

    func missedWriteCount(server: Int) -> Int { writeCounts.value(server) }

    /// The keys kept for `server`, which are forgotten here once each is applied.
    func keys(for server: Int) -> [[UInt8]] { keys.withLock { Array($0.entries[server].keys) } }

    /// A newer write reached `server`: if something is kept for `key` there,
    /// it becomes a kept write (settled from the other copy, never undoing it).
    func keptKeyWritten(server: Int, key: UnsafeRawBufferPointer) {
        guard counts.value(server) > 0 else { return }
        keys.withLock { lists in
            let owned = Array(key)
            guard var entry = lists.entries[server][owned] else { return }
            let changed = !entry.missedWrite
            if changed { writeCounts.addFromAnyThread(server, 1) }
            entry.missedWrite = true
            entry.version &+= 1
            lists.entries[server][owned] = entry
            if changed { lists.journal({ .kept(server: $0, key: owned, missedWrite: true) }, server: server) }
        }
    }

    /// A client write of `key` is sent: returns whether the key is kept for
    /// `server` (then `writeFinished` must follow once the write is over).
    func writeStarted(server: Int, key: UnsafeRawBufferPointer) -> Bool {
        guard counts.value(server) > 0 else { return false }
        return keys.withLock { lists in
            let owned = Array(key)
            guard var entry = lists.entries[server][owned] else { return false }
            entry.version &+= 1
            entry.writesInFlight += 1
            lists.entries[server][owned] = entry
            return true
        }
    }

    /// The client write `writeStarted` counted is over (what it did to the
    /// entry, the job kept or turned into a kept write as it went).
    func writeFinished(server: Int, key: UnsafeRawBufferPointer) {
        keys.withLock { lists in
            let owned = Array(key)
            guard var entry = lists.entries[server][owned] else { return }
            entry.version &+= 1
            entry.writesInFlight -= 1
            lists.entries[server][owned] = entry
        }
    }

    /// The refiller applied `applied` (the entry as it read it before giving
    /// the server the key's state): forgotten only if nothing changed it
    /// since and no client write of the key is in flight. Returns whether it
    /// was forgotten.
    @discardableResult
    func remove(server: Int, key: [UInt8], applied: Entry) -> Bool {
        keys.withLock { lists in
            guard let entry = lists.entries[server][key], entry.version == applied.version, entry.writesInFlight == 0 else { return false }
            lists.entries[server].removeValue(forKey: key)
            counts.addFromAnyThread(server, -1)
            if entry.missedWrite { writeCounts.addFromAnyThread(server, -1) }
            lists.forgotten(server: server, key: key)
            return true
        }
    }

    // MARK: - The journal (--state-dir)

    /// Names `servers` for the journal (at start-up, and for the servers a reload adds).
    func nameServers(_ servers: [BackendServer]) {
        keys.withLock { lists in
            for server in servers { lists.names[server.id] = KeptKeysRecord.serverName(role: server.role, address: server.address) }
        }
    }

    /// Takes what a journal held (`replay`, by server name) for the named
    /// servers, and from now on writes every change to `journal`, which is
    /// first rewritten with exactly what is kept. Returns the keys taken and
    /// those dropped: of servers no longer configured, or past the limit.
    func attach(_ journal: KeptKeysJournal, replay: KeptKeysReplay, logger: Logger) -> (restored: Int, dropped: Int, overflowed: [Int]) {
        keys.withLock { lists in
            // No journal yet: what `keep` would write to it, the rewrite below holds.
            let before = lists.total
            var dropped = 0
            var ids: [String: Int] = [:]
            for (id, name) in lists.names.enumerated() { if let name { ids[name] = id } }
            for (name, kept) in replay.kept {
                guard let server = ids[name] else {
                    dropped += kept.count
                    continue
                }
                for (key, missedWrite) in kept where !keep(key, server: server, missedWrite: missedWrite, in: &lists) {
                    dropped += 1
                }
            }
            let restored = lists.total - before
            for name in replay.overflowed { if let server = ids[name] { lists.overflowed.insert(server) } }
            lists.journal = journal
            lists.logger = logger
            lists.compact()
            return (restored, dropped, lists.overflowed.sorted())
        }
    }
}
