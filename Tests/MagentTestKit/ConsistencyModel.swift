// A model checker for one client's own keys: what each key may hold, given
// every write the client sent and every reply it got, and every read checked
// against it. Used by ConsistencyChaosTests; knows memcached's semantics, not
// the proxy's.
import Foundation

/// What one client may see of the keys only it writes. Per key: the states it
/// may hold now, and every state it ever could have held, so that a read that
/// disagrees is classified (an older value, a deleted key back, a lost write...).
///
/// - An acknowledged write (any reply but a lost one) makes the key's state the
///   write's result applied to the states that reply allows: `STORED` to an
///   `append` means the key was there, `NOT_STORED` that it was not.
/// - A write whose reply was lost (`SERVER_ERROR`, timeout, connection closed)
///   may or may not have happened, and may still happen later (a frozen server
///   runs what was buffered for it when it thaws): its outcome is added to the
///   possible states and stays possible until the next acknowledged write.
/// - A read (or a reply that reveals presence, as `NOT_FOUND`) must match one of
///   the possible states; it narrows them to what it saw plus the outcomes still
///   pending. Seeing a lost write's outcome rules out the state before it.
/// - Reads in a pipelined batch are checked against the writes sent before them
///   on the same connection: seeing a state that one of those writes replaced is
///   `ownWriteOvertaken`; seeing the outcome of a write sent after the read is
///   `laterWriteSeen`.
///
/// After a violation the wrong state seen is tolerated until the next
/// acknowledged write (one divergence, one violation, not a cascade), but the
/// final read must not see it. Not thread-safe: one per client thread.
public struct ConsistencyModel: Sendable {
    /// A key's content: absent, or a value with its flags.
    public enum State: Hashable, Sendable, CustomStringConvertible {
        case absent
        case value(String, flags: UInt32)

        public var isPresent: Bool { self != .absent }

        public var description: String {
            switch self {
            case .absent: return "absent"
            case .value(let data, let flags):
                let shown = data.utf8.count > 48 ? String(decoding: Array(data.utf8.prefix(48)), as: UTF8.self) + "…(\(data.utf8.count) B)" : data
                return "\"\(shown)\" flags \(flags)"
            }
        }

        /// The number a counter holds (memcached pads a shrunk counter with spaces).
        var number: UInt64? {
            guard case .value(let data, _) = self else { return nil }
            var digits = Substring(data)
            while digits.last == " " { digits = digits.dropLast() }
            return UInt64(digits)
        }

        /// A label for traces: short values whole, long ones by their ends and length.
        public var short: String {
            guard case .value(let data, _) = self else { return "absent" }
            let bytes = Array(data.utf8)
            guard bytes.count > 30 else { return data }
            return String(decoding: bytes.prefix(18), as: UTF8.self) + "…" + String(decoding: bytes.suffix(8), as: UTF8.self)
                + "(\(bytes.count))"
        }

        /// A short digest for the history (values are not kept whole there).
        var digest: UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            func add(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            switch self {
            case .absent: add(0xff)
            case .value(let data, let flags):
                for byte in data.utf8 { add(byte) }
                for shift in stride(from: 0, to: 32, by: 8) { add(UInt8(truncatingIfNeeded: flags >> UInt32(shift))) }
            }
            return hash
        }
    }

    /// A write as sent.
    public enum Write: Sendable, CustomStringConvertible {
        case set(String, flags: UInt32)
        case add(String, flags: UInt32)
        case replace(String, flags: UInt32)
        /// With the cas unique of a `gets` that saw `seen`.
        case cas(String, flags: UInt32, seen: State)
        case append(String)
        case prepend(String)
        case incr(UInt64)
        case decr(UInt64)
        case touch
        case delete

        public var description: String {
            switch self {
            case .set: return "set"
            case .add: return "add"
            case .replace: return "replace"
            case .cas: return "cas"
            case .append: return "append"
            case .prepend: return "prepend"
            case .incr(let delta): return "incr \(delta)"
            case .decr(let delta): return "decr \(delta)"
            case .touch: return "touch"
            case .delete: return "delete"
            }
        }

        /// The write with its value, short, for traces.
        public var label: String {
            switch self {
            case .set(let data, let flags), .add(let data, let flags), .replace(let data, let flags), .cas(let data, let flags, _):
                return "\(self) \(State.value(data, flags: flags).short)"
            case .append(let data), .prepend(let data): return "\(self) \(data)"
            default: return description
            }
        }

        /// The state after the write succeeds on `prior`, or nil when it cannot
        /// succeed there (add of a present key, append of an absent one...).
        func applied(to prior: State) -> State? {
            switch (self, prior) {
            case (.set(let data, let flags), _): return .value(data, flags: flags)
            case (.add(let data, let flags), .absent): return .value(data, flags: flags)
            case (.replace(let data, let flags), .value): return .value(data, flags: flags)
            case (.cas(let data, let flags, let seen), _): return prior == seen && seen.isPresent ? .value(data, flags: flags) : nil
            case (.append(let suffix), .value(let data, let flags)): return .value(data + suffix, flags: flags)
            case (.prepend(let prefix), .value(let data, let flags)): return .value(prefix + data, flags: flags)
            case (.incr(let delta), .value(_, let flags)):
                return prior.number.map { .value(String($0 &+ delta), flags: flags) }
            case (.decr(let delta), .value(_, let flags)):
                return prior.number.map { .value(String($0 >= delta ? $0 - delta : 0), flags: flags) }
            case (.touch, .value): return prior
            case (.delete, .value): return .absent
            default: return nil
            }
        }
    }

    /// The reply a write got, as the test read it.
    public enum WriteReply: Sendable, Equatable, CustomStringConvertible {
        case stored, notStored, exists, notFound, deleted, touched
        case number(UInt64)
        /// No reply known: SERVER_ERROR, a timeout, the connection closed.
        case lost(String)

        public var description: String {
            switch self {
            case .stored: return "STORED"
            case .notStored: return "NOT_STORED"
            case .exists: return "EXISTS"
            case .notFound: return "NOT_FOUND"
            case .deleted: return "DELETED"
            case .touched: return "TOUCHED"
            case .number(let value): return String(value)
            case .lost(let why): return "lost (\(why))"
            }
        }
    }

    /// The kinds of violation, each a way the guarantee can be broken.
    public enum Kind: String, CaseIterable, Sendable {
        /// A value the key held before the last acknowledged write.
        case staleValue
        /// A value (or a present key) after an acknowledged delete.
        case deletedKeyBack
        /// A miss (or `NOT_FOUND`) where an acknowledged value must exist.
        case lostWrite
        /// A pipelined read saw the state that an earlier write of the same batch replaced.
        case ownWriteOvertaken
        /// A pipelined read saw the outcome of a write sent after it in the same batch
        /// (the write overtook the read; memcached answers a pipeline in order).
        case laterWriteSeen
        /// A reply that is no reply to the command, an error on a read, a hang, a closed connection.
        case unexpectedError
        /// A value no write of this client ever produced for the key.
        case foreignValue
        /// The final read, after the faults and the recovery, disagrees with the model.
        case finalMismatch
        /// The backup holds something else than the key's primary after the run.
        case backupDiverged
    }

    /// One violation, with what was expected and what came, when and under which fault.
    public struct Violation: Sendable, CustomStringConvertible {
        public var kind: Kind
        public var key: String
        public var operation: String
        public var expected: String
        public var got: String
        /// Seconds since the run started.
        public var time: Double
        public var fault: String
        /// The key's last events before this one (time in ms since the start, request, reply).
        public var recent: [String] = []

        public var description: String {
            let seconds = (time * 100).rounded() / 100
            let head = "\(kind.rawValue) \(key) at \(seconds) s [\(fault)]: \(operation): expected \(expected), got \(got)"
            return ([head] + recent.map { "      " + $0 }).joined(separator: "\n")
        }
    }

    /// Violations counted by kind, with the first few examples of each.
    public struct Tally: Sendable {
        public private(set) var counts: [Kind: Int] = [:]
        /// "staleValue by get" → count: each kind by the command whose reply showed it.
        public private(set) var byOperation: [String: Int] = [:]
        /// "staleValue after freeze, ended, not up yet" → count: each kind by the fault phase it came in.
        public private(set) var byFault: [String: Int] = [:]
        /// The earliest examples of each kind.
        public private(set) var examples: [Violation] = []
        /// Examples kept per kind.
        public let examplesPerKind: Int

        public init(examplesPerKind: Int = 4) { self.examplesPerKind = examplesPerKind }

        /// A fault description without its numbers and server names: its phase.
        static func phase(_ fault: String) -> String {
            let words = fault.split(separator: " ").filter { word in
                let bare = word.trimmingCharacters(in: .punctuationCharacters)
                return !(bare.first?.isNumber ?? true) && !["s", "ago", "B", "B1", "B2"].contains(bare)
                    && !(bare.hasPrefix("P") && bare.dropFirst().allSatisfy(\.isNumber))
            }
            return words.joined(separator: " ")
        }

        public var total: Int { counts.values.reduce(0, +) }

        public mutating func record(_ violation: Violation) {
            counts[violation.kind, default: 0] += 1
            let verb = violation.operation.split(separator: " ").first.map(String.init) ?? "?"
            byOperation["\(violation.kind.rawValue) by \(verb)", default: 0] += 1
            byFault["\(violation.kind.rawValue) in \(Self.phase(violation.fault))", default: 0] += 1
            if examples.filter({ $0.kind == violation.kind }).count < examplesPerKind { examples.append(violation) }
        }

        public mutating func merge(_ other: Tally) {
            for (kind, count) in other.counts { counts[kind, default: 0] += count }
            for (name, count) in other.byOperation { byOperation[name, default: 0] += count }
            for (name, count) in other.byFault { byFault[name, default: 0] += count }
            var kept: [Violation] = []
            for example in (examples + other.examples).sorted(by: { $0.time < $1.time })
            where kept.filter({ $0.kind == example.kind }).count < examplesPerKind {
                kept.append(example)
            }
            examples = kept
        }

        /// "staleValue 3, lostWrite 1", the counts by command, and the examples, one a line, in time order.
        public var report: String {
            let byKind = Kind.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", ")
            var lines = ["violations: \(total) (\(byKind))"]
            if !byOperation.isEmpty {
                lines.append("  by command: " + byOperation.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                lines.append("  by fault phase:")
                lines += byFault.sorted { $0.key < $1.key }.map { "    \($0.key): \($0.value)" }
            }
            lines += examples.sorted { $0.time < $1.time }.map { "  " + $0.description }
            return lines.joined(separator: "\n")
        }
    }

    /// One key's model.
    struct Key: Sendable {
        /// The states the key may hold now; nil when unknown (after a violation
        /// that left its value unknown, or too many lost writes in a row).
        var possible: Set<State>? = [.absent]
        /// Outcomes of writes whose reply was lost since the last acknowledged write.
        var pending: Set<State> = []
        /// Acknowledged writes so far.
        var generation = 0
        /// Digest of every state ever possible → the last generation it was possible in.
        var history: [UInt64: Int] = [State.absent.digest: 0]
        /// The generation when the current pipelined batch began.
        var batchStart: Int? = nil
        /// The outcomes of the batch's writes to this key whose replies are not
        /// read yet, in order: a read seeing one of them was overtaken by it.
        var laterWrites: [Set<State>] = []
        /// Wrong states already recorded as a violation since the last acknowledged
        /// write: seen again during the run they are not counted again (one
        /// divergence, one violation); the final read still must not see them.
        var tolerated: Set<State> = []
        /// A present key was seen where it must be absent (value unknown): any present state is tolerated.
        var toleratesPresent = false
        /// The last events, for a violation's example.
        var recent: [String] = []
    }

    /// Events kept per key for the examples.
    public static let traceLength = 6

    /// Beyond this many possible states a key is given up as unknown until it is seen.
    public static let maxPossible = 32

    private var keys: [String: Key] = [:]
    public private(set) var tally = Tally()
    /// Reads and revealing replies checked, and lost replies taken in.
    public private(set) var checks = 0
    public private(set) var lostReplies = 0
    /// Times a key became unknown (its model gave up).
    public private(set) var unknownKeys = 0
    private let started: Double
    private let fault: @Sendable (Double) -> String
    private let recognises: @Sendable (String, String) -> Bool

    /// `keys`: the keys only this client writes, all absent at first. `started`:
    /// the run's start on `now()`'s clock; `fault`: what fault was active at a
    /// time (for the examples). `examplesPerKind`: examples kept. `recognises(key, data)`: whether `data` is in the
    /// encoding of this client's values for `key`, so that a value the history
    /// lacks (written while the key was unknown, or by a lost write the model
    /// thought could not apply) is classified as stale, not foreign.
    public init(keys names: [String], started: Double, fault: @escaping @Sendable (Double) -> String,
                recognises: @escaping @Sendable (String, String) -> Bool, examplesPerKind: Int = 4) {
        for name in names { keys[name] = Key() }
        tally = Tally(examplesPerKind: examplesPerKind)
        self.started = started
        self.fault = fault
        self.recognises = recognises
    }

    public var keyNames: [String] { keys.keys.sorted() }

    /// The states `key` may hold now (nil: unknown, anything goes).
    public func possible(_ key: String) -> Set<State>? { keys[key]?.possible }

    /// Whether any write to `key` was ever acknowledged or sent.
    public func touched(_ key: String) -> Bool { (keys[key]?.history.count ?? 0) > 1 }

    // MARK: Batches

    /// Marks the start of a pipelined batch whose writes are `writes`, in the order
    /// sent: each read in it must see the writes sent before it, and none after it.
    public mutating func beginBatch(writes: [(key: String, write: Write)] = []) {
        for name in keys.keys {
            keys[name]!.batchStart = keys[name]!.generation
            keys[name]!.laterWrites = []
        }
        var simulated: [String: Set<State>] = [:]
        for (key, write) in writes {
            guard let possible = keys[key]?.possible else { continue }
            let before = simulated[key] ?? possible
            let after = Set(before.compactMap { write.applied(to: $0) })
            keys[key]!.laterWrites.append(after)
            simulated[key] = before.union(after)
        }
    }

    public mutating func endBatch() {
        for name in keys.keys {
            keys[name]!.batchStart = nil
            keys[name]!.laterWrites = []
        }
    }

    // MARK: Checks

    /// A read of `key` saw `state` (a value, or absent on a miss). A mismatch is
    /// recorded as its classified kind, or as `kindOnMismatch` (the final read's
    /// `finalMismatch`) with the classified kind in the operation. Returns
    /// whether the state seen was one the model allows.
    @discardableResult
    public mutating func read(_ key: String, saw state: State, operation: String, kindOnMismatch: Kind? = nil) -> Bool {
        guard var model = keys[key] else { return true }
        checks += 1
        defer { keys[key] = model }
        defer { note(&model, "\(operation) saw \(state.short)") }
        guard let possible = model.possible else {
            assign(&model, [state])
            return true
        }
        if possible.contains(state) {
            // What was seen, and the outcomes of lost writes, which may still land;
            // the rest is ruled out (a lost write seen done rules out the state before it).
            assign(&model, Set([state]).union(model.pending))
            return true
        }
        let final = kindOnMismatch != nil
        if !final && (model.tolerated.contains(state) || (model.toleratesPresent && state.isPresent)) { return false }
        let classified = classify(model, saw: state, key: key)
        let what = final ? "\(operation) (a \(classified.rawValue))" : operation
        record(kindOnMismatch ?? classified, key, what, expected: possible, got: state.description, recent: model.recent)
        model.tolerated.insert(state)
        return false
    }

    /// A write of `key` got `reply`.
    public mutating func wrote(_ key: String, _ write: Write, reply: WriteReply, operation: String? = nil) {
        guard var model = keys[key] else { return }
        defer { keys[key] = model }
        let operation = operation ?? write.description
        defer { note(&model, "\(operation.hasPrefix("batch-") ? "batch-" : "")\(write.label) → \(reply)") }
        if !model.laterWrites.isEmpty { model.laterWrites.removeFirst() }
        switch (write, reply) {
        case (_, .lost):
            lostReplies += 1
            guard let possible = model.possible else { return }
            let outcomes = Set(possible.compactMap { write.applied(to: $0) })
            model.pending.formUnion(outcomes)
            assign(&model, possible.union(outcomes))
            return
        case (.set, .stored), (.add, .stored), (.replace, .stored), (.cas, .stored), (.append, .stored), (.prepend, .stored),
             (.incr, .number), (.decr, .number), (.touch, .touched), (.delete, .deleted):
            break  // it succeeded: below
        case (.add, .notStored), (.cas, .exists):
            checks += 1
            observePresence(&model, key, present: true, operation: "\(operation) → \(reply)")
            return
        case (.replace, .notStored), (.append, .notStored), (.prepend, .notStored), (.cas, .notFound),
             (.incr, .notFound), (.decr, .notFound), (.touch, .notFound), (.delete, .notFound):
            checks += 1
            observePresence(&model, key, present: false, operation: "\(operation) → \(reply)")
            if case .delete = write { acknowledge(&model, [.absent]) }
            return
        default:
            record(.unexpectedError, key, operation, expected: model.possible, got: "reply \(reply)", recent: model.recent)
            return
        }
        checks += 1
        guard let possible = model.possible else {
            // Unknown: only a write that does not depend on the old state makes it known again.
            acknowledge(&model, Self.independentResult(write, reply))
            return
        }
        var results = Set(possible.compactMap { write.applied(to: $0) })
        var toleratedResults = Set(model.tolerated.compactMap { write.applied(to: $0) })
        if case .number(let value) = reply {
            results = results.filter { $0.number == value }
            toleratedResults = toleratedResults.filter { $0.number == value }
        }
        guard results.isEmpty else {
            acknowledge(&model, results)
            // What the write made of a divergence already counted is tolerated too.
            model.tolerated = toleratedResults.subtracting(results)
            return
        }
        if !toleratedResults.isEmpty || model.toleratesPresent {
            // The write applied to a divergence already counted: that is the key's state now.
            acknowledge(&model, toleratedResults.isEmpty ? Self.independentResult(write, reply) : toleratedResults)
            return
        }
        // The reply contradicts every possible state: classify by what it reveals.
        let kind: Kind
        let got: String
        switch (write, reply) {
        case (.incr(let delta), .number(let value)):
            kind = classifyPresent(model, counter: true, held: value >= delta ? value - delta : nil)
            got = "\(value) (so it held \(value >= delta ? String(value - delta) : "?"))"
        case (.decr(let delta), .number(let value)):
            kind = classifyPresent(model, counter: true, held: value == 0 ? nil : value + delta)
            got = "\(value) (so it held \(value == 0 ? "≤ \(delta)" : String(value + delta)))"
        case (.cas(_, _, let seen), .stored):
            kind = possible.contains(where: \.isPresent) ? .staleValue : classifyPresent(model)
            got = "STORED: the key still held \(seen)"
        case (.add, .stored):
            kind = classify(model, saw: .absent, key: key)
            got = "STORED: the key was absent"
        default:
            kind = classifyPresent(model)
            got = "\(reply): the key was present"
        }
        record(kind, key, operation, expected: possible, got: got, recent: model.recent)
        acknowledge(&model, Self.independentResult(write, reply))
    }

    /// Records a violation that no state explains (a protocol error, a hang).
    public mutating func unexpected(_ key: String, operation: String, got: String) {
        record(.unexpectedError, key, operation, expected: keys[key]?.possible, got: got, recent: keys[key]?.recent ?? [])
    }

    /// Records a violation found outside the reads (final mismatches, a diverged backup).
    public mutating func record(_ kind: Kind, _ key: String, _ operation: String, expected: String, got: String) {
        let time = now() - started
        tally.record(Violation(kind: kind, key: key, operation: operation, expected: expected, got: got, time: time,
                               fault: fault(time), recent: keys[key]?.recent ?? []))
    }

    /// Adds an event to the key's trace.
    private func note(_ model: inout Key, _ event: @autoclosure () -> String) {
        if model.recent.count >= Self.traceLength { model.recent.removeFirst() }
        model.recent.append("\(Int((now() - started) * 1000)) ms \(event())")
    }

    // MARK: Internals

    /// The state after `write` got `reply` when the state before is not known.
    private static func independentResult(_ write: Write, _ reply: WriteReply) -> Set<State>? {
        switch (write, reply) {
        case (.set(let data, let flags), _), (.add(let data, let flags), .stored),
             (.replace(let data, let flags), .stored), (.cas(let data, let flags, _), .stored):
            return [.value(data, flags: flags)]
        case (.delete, _): return [.absent]
        default: return nil
        }
    }

    private mutating func assign(_ model: inout Key, _ states: Set<State>?) {
        guard let states, states.count <= Self.maxPossible else {
            if model.possible != nil { unknownKeys += 1 }
            model.possible = nil
            model.pending = []
            return
        }
        model.possible = states
        model.pending = model.pending.intersection(states)
        for state in states { model.history[state.digest] = model.generation }
    }

    private mutating func acknowledge(_ model: inout Key, _ states: Set<State>?) {
        model.generation += 1
        model.pending = []
        model.tolerated = []
        model.toleratesPresent = false
        assign(&model, states)
    }

    /// A reply that says only whether the key is there.
    private mutating func observePresence(_ model: inout Key, _ key: String, present: Bool, operation: String) {
        guard let possible = model.possible else {
            if !present { assign(&model, [.absent]) }
            return
        }
        let matching = possible.filter { $0.isPresent == present }
        if !matching.isEmpty {
            assign(&model, matching.union(model.pending))
            return
        }
        if present ? model.toleratesPresent || model.tolerated.contains(where: \.isPresent) : model.tolerated.contains(.absent) {
            return
        }
        let kind = present ? classifyPresent(model) : classify(model, saw: .absent, key: key)
        record(kind, key, operation, expected: possible, got: present ? "present" : "absent", recent: model.recent)
        if present { model.toleratesPresent = true } else { model.tolerated.insert(.absent) }
    }

    /// Why a full state that is not possible was seen.
    private func classify(_ model: Key, saw state: State, key: String) -> Kind {
        // A value is unique evidence of the write that made it; a miss is not.
        if state.isPresent && model.laterWrites.contains(where: { $0.contains(state) }) { return .laterWriteSeen }
        let generation = model.history[state.digest]
        if case .value(let data, _) = state, generation == nil, !recognises(key, data) { return .foreignValue }
        if let generation, let batchStart = model.batchStart, generation >= batchStart, model.generation > batchStart {
            return .ownWriteOvertaken
        }
        if !state.isPresent { return .lostWrite }
        return model.possible?.allSatisfy({ !$0.isPresent }) == true ? .deletedKeyBack : .staleValue
    }

    /// Why a present key was seen where the model has no such state: of unknown
    /// value, or a counter that held `held` (known from an incr/decr reply).
    private func classifyPresent(_ model: Key, counter: Bool = false, held: UInt64? = nil) -> Kind {
        if let held, model.laterWrites.contains(where: { $0.contains { $0.number == held } }) { return .laterWriteSeen }
        let absent = State.absent.digest
        if held == nil, let batchStart = model.batchStart, model.generation > batchStart,
           model.history.contains(where: { $0.key != absent && $0.value >= batchStart }) {
            return .ownWriteOvertaken
        }
        if model.possible?.allSatisfy({ !$0.isPresent }) == true {
            return model.history.count > 1 ? .deletedKeyBack : .foreignValue
        }
        return counter ? .staleValue : .foreignValue
    }

    private mutating func record(_ kind: Kind, _ key: String, _ operation: String, expected: Set<State>?, got: String,
                                 recent: [String]) {
        let shown = expected.map { $0.map(\.description).sorted().joined(separator: " or ") } ?? "anything (unknown)"
        let time = now() - started
        tally.record(Violation(kind: kind, key: key, operation: operation, expected: shown, got: got, time: time,
                               fault: fault(time), recent: recent))
    }
}
