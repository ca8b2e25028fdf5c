// Whether a backend server is in use: consecutive failures (or a flush_all it
// missed) mark it down, and only the health monitor's probe marks it up again.
// Shared by all threads.
import Synchronization

public final class ServerHealth: Sendable {
    private let down = Atomic<Bool>(false)
    private let recovering = Atomic<Bool>(false)
    private let resyncing = Atomic<Bool>(false)
    private let overflowed = Atomic<Bool>(false)
    private let consecutiveFailures = Atomic<Int>(0)
    private let metaGets = Atomic<Bool>(false)
    /// The pid its last identity check read (0: none yet).
    private let process = Atomic<Int>(0)
    /// Bumped whenever a connection to it failed or it closed one: it may
    /// have restarted empty. `confirmedDoubt` is the last count an identity
    /// check answered (same process, or the restart marked).
    private let doubts = Atomic<Int>(0)
    private let confirmedDoubt = Atomic<Int>(0)
    /// When the flush_all it missed takes effect (unix seconds; 0: none missed).
    private let missedFlush = Atomic<Int>(0)
    /// When a request to it last failed, and when it first answered after
    /// that (monotonic milliseconds; 0: never).
    private let lastFailureAt = Atomic<UInt64>(0)
    private let answeringSince = Atomic<UInt64>(0)
    /// --failure-limit; a reload may change it.
    private let failureLimit: Atomic<Int>
    /// Refill progress while recovering: keys copied so far, keys still to copy.
    public let refillCopied = Counter()
    public let refillLeft = Counter()
    /// Times marked down, and times found restarted or back (for stats).
    public let markedDown = Counter()
    public let recoveries = Counter()

    init(failureLimit: Int) { self.failureLimit = Atomic(failureLimit) }

    func setFailureLimit(_ limit: Int) { failureLimit.store(limit, ordering: .relaxed) }

    public var isUp: Bool { !down.load(ordering: .relaxed) }

    /// Back after being down or after a restart: in use, but it may have lost
    /// its data, so misses are asked of the other copy and it is being refilled.
    public var isRecovering: Bool { recovering.load(ordering: .relaxed) }

    /// Back after being down with its data (frozen, cut off): keys it missed
    /// meanwhile are dropped from it before it serves reads again. Reads go
    /// to the other copy until then; writes go to it as usual.
    public var isResyncing: Bool { resyncing.load(ordering: .relaxed) }

    func markResyncing() { resyncing.store(true, ordering: .relaxed) }

    func markResynced() { resyncing.store(false, ordering: .relaxed) }

    /// More keys were missed than its kept list holds (PendingDeletes'
    /// limit): which of its copies are old is no longer known, so it is out
    /// of use (reads and writes go to the other copy) until the refiller has
    /// flushed it and refills it in full.
    public var keptKeysOverflowed: Bool { overflowed.load(ordering: .relaxed) }

    func markKeptKeysOverflowed() { overflowed.store(true, ordering: .relaxed) }

    func clearKeptKeysOverflowed() { overflowed.store(false, ordering: .relaxed) }

    /// The server's `stats` named a memcached that answers meta commands
    /// (1.6 or later): plain gets go to it as `mg`, which memcached answers
    /// in one write per batch instead of one write per get.
    public var answersMetaGets: Bool { metaGets.load(ordering: .relaxed) }

    func setAnswersMetaGets(_ answers: Bool) {
        if metaGets.load(ordering: .relaxed) != answers { metaGets.store(answers, ordering: .relaxed) }
    }

    /// The memcached process the health monitor last saw answer here (its
    /// pid; 0 before the first check). Stored after a restart is marked, so
    /// whoever reads the new pid also sees the server recovering.
    public var processID: Int { process.load(ordering: .sequentiallyConsistent) }

    /// A connection failed or was closed by the server: until an identity
    /// check started after this answers, it may be a new, empty process, so
    /// its misses are asked of the other copy (as while it recovers).
    func doubtIdentity() { doubts.add(1, ordering: .sequentiallyConsistent) }

    /// The doubt count now, for an identity check about to start.
    var doubtCount: Int { doubts.load(ordering: .sequentiallyConsistent) }

    /// An identity check started at `doubtCount` has answered.
    func identityConfirmed(upTo count: Int) {
        if confirmedDoubt.load(ordering: .sequentiallyConsistent) < count { confirmedDoubt.store(count, ordering: .sequentiallyConsistent) }
    }

    /// A connection failed or closed since the last identity check answered.
    public var mayHaveRestarted: Bool {
        doubts.load(ordering: .relaxed) != confirmedDoubt.load(ordering: .relaxed)
    }

    func noteProcess(_ pid: Int) {
        if process.load(ordering: .sequentiallyConsistent) != pid { process.store(pid, ordering: .sequentiallyConsistent) }
    }

    /// "up", "down", "overflowed" (out of use until flushed) or "recovering", for stats and logs.
    public var stateName: String { !isUp ? "down" : keptKeysOverflowed ? "overflowed" : isRecovering ? "recovering" : "up" }

    /// Returns true for the call that started the recovery.
    @discardableResult
    func markRecovering() -> Bool {
        let started = recovering.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        if started { recoveries.add(1) }
        return started
    }

    func markRecovered() { recovering.store(false, ordering: .relaxed) }

    /// A reply arrived: the failure streak ends (no write when there is none).
    func recordSuccess() {
        if consecutiveFailures.load(ordering: .relaxed) != 0 {
            consecutiveFailures.store(0, ordering: .relaxed)
            noteAnswering()
        }
    }

    /// It answers again: later than its last failure, even within one clock tick.
    private func noteAnswering() {
        let failed = lastFailureAt.load(ordering: .relaxed)
        answeringSince.store(Swift.max(MonotonicClock.milliseconds(), failed &+ 1), ordering: .relaxed)
    }

    /// Whether requests that failed here can no longer take effect: it has
    /// answered for `settleMilliseconds` since its last failure. A request
    /// that timed out may still sit in the server's socket buffers (a frozen
    /// memcached runs them when it thaws, a slow one late), so until then a
    /// success does not prove that the server's copy of a key is current.
    /// As below, reading the clock only for a server that ever failed (the request path asks).
    public func hasSettled(settleMilliseconds: UInt64) -> Bool {
        guard lastFailureAt.load(ordering: .relaxed) != 0 else { return true }
        return hasSettled(now: MonotonicClock.milliseconds(), settleMilliseconds: settleMilliseconds)
    }

    public func hasSettled(now: UInt64, settleMilliseconds: UInt64) -> Bool {
        let failed = lastFailureAt.load(ordering: .relaxed)
        guard failed != 0 else { return true }
        let since = answeringSince.load(ordering: .relaxed)
        // `since` may be a tick ahead of `now` (a success in the failure's millisecond).
        return isUp && since > failed && now >= since && now - since >= settleMilliseconds
    }

    /// A connect, reply or timeout failed. Returns true for the one call that
    /// marks the server down.
    func recordFailure() -> Bool {
        lastFailureAt.store(Swift.max(MonotonicClock.milliseconds(), 1), ordering: .relaxed)
        answeringSince.store(0, ordering: .relaxed)  // answered again only after this failure
        let failures = consecutiveFailures.wrappingAdd(1, ordering: .relaxed).newValue
        guard failures >= failureLimit.load(ordering: .relaxed) else { return false }
        let markedNow = down.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        if markedNow { markedDown.add(1) }
        return markedNow
    }

    /// A flush_all it missed while another server took it (see MissedFlush):
    /// 0 when none.
    public var missedFlushDeadline: Int { missedFlush.load(ordering: .sequentiallyConsistent) }

    /// It missed a flush_all another server took: marked down (nothing is read
    /// or refilled from it, writes to it are kept) until the health probe gives
    /// it the flush. The latest one missed is kept. Returns true for the call
    /// that marked it down.
    func noteMissedFlush(_ flush: MissedFlush) -> Bool {
        // Stored first: whoever sees it down also sees why.
        missedFlush.store(flush.deadline, ordering: .sequentiallyConsistent)
        let markedNow = down.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged
        if markedNow { markedDown.add(1) }
        return markedNow
    }

    /// The probe gave it `flush`, which it took. False when it missed a newer
    /// one meanwhile (that one is given next).
    func flushGiven(_ flush: MissedFlush) -> Bool {
        missedFlush.compareExchange(expected: flush.deadline, desired: 0, ordering: .sequentiallyConsistent).exchanged
    }

    /// The probe got an answer. Returns true if the server was down.
    func markUp() -> Bool {
        consecutiveFailures.store(0, ordering: .relaxed)
        noteAnswering()
        return down.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged
    }
}
