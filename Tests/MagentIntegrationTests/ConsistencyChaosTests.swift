// Model-checked chaos: 8 clients, each writing only its own keys through the
// proxy (2 primaries, 1 backup) with every command, multi-gets and pipelined
// batches, while one server at a time is killed and restarted empty, frozen,
// flapping or slowed. Every reply is checked against ConsistencyModel: a read
// returns the last acknowledged write (never an older value, never a deleted
// key), and a connection sees its own writes in order. Then the final state is
// read through the proxy, and the backup compared with the primaries directly.
//
// MAGENT_CHAOS_FAULTS: the kinds of fault, comma-separated (kill+restart, freeze,
// flap, slow, proxy-restart; all by default; without proxy-restart the proxy runs
// without --state-dir, so an older binary can be tried).
// MAGENT_CHAOS_LOG: where to write every proxy's whole log when something was found.
// MAGENT_CHAOS_SECONDS: the length (0, the default, skips the test; `make chaos`
// runs 60 s). MAGENT_CHAOS_SEED: the random choices; MAGENT_CHAOS_EXAMPLES: examples
// reported per kind of violation (4). MAGENT_CHAOS_DIRECT=1: the
// clients talk to one memcached directly, no proxy and no faults, which checks the
// checker itself (it must find nothing).
import Foundation
import Glibc
import Testing
import MagentTestKit
import MagentCore

@Suite(.serialized) struct ConsistencyChaosTests {
    static let environment = ProcessInfo.processInfo.environment
    static var seconds: Double { environment["MAGENT_CHAOS_SECONDS"].flatMap(Double.init) ?? 0 }
    static var seed: UInt64 { environment["MAGENT_CHAOS_SEED"].flatMap { UInt64($0) } ?? 20261205 }
    static var direct: Bool { environment["MAGENT_CHAOS_DIRECT"] == "1" }
    static var faultKinds: [ChaosFaults.Kind] {
        guard let names = environment["MAGENT_CHAOS_FAULTS"] else { return ChaosFaults.Kind.allCases }
        return names.split(separator: ",").compactMap { ChaosFaults.Kind(rawValue: String($0)) }
    }
    /// Examples reported per kind of violation (MAGENT_CHAOS_EXAMPLES).
    static var examples: Int { environment["MAGENT_CHAOS_EXAMPLES"].flatMap { Int($0) } ?? 4 }
    static let clientCount = 8
    static let keysPerClient = 50
    /// Of each client's keys, this many per primary are counters (incr/decr); the rest take strings.
    static let countersPerPrimary = 5
    /// The proxy's --request-timeout, in ms: short, so a frozen server is found out.
    static let requestTimeout = 500

    @Test(.enabled(if: seconds > 0, "set MAGENT_CHAOS_SECONDS (make chaos)"))
    func readsSeeTheLastAcknowledgedWrite() throws {
        let duration = Self.seconds
        // The kept keys survive the proxy restarts of the run.
        let stateDirectory = try Environment.temporaryDirectory()
        let kinds = Self.faultKinds
        #expect(!kinds.isEmpty, "MAGENT_CHAOS_FAULTS names no fault kind")
        let cluster = Self.direct ? nil : try Cluster(primaries: 2, backups: 1, arguments: [
            "-t", "2", "--request-timeout", String(Self.requestTimeout), "--log-level", "notice"]
            + (kinds.contains(.proxyRestart) ? ["--state-dir", stateDirectory] : []))
        let single = Self.direct ? try Memcached() : nil
        defer {
            cluster?.stop()
            single?.stop()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
        let port = cluster?.port ?? single!.port
        let started = now()
        let startedAt = Date()
        let loadEnd = started + duration
        let faults = kinds.isEmpty ? nil : cluster.map {
            ChaosFaults(cluster: $0, started: started, requestTimeout: Double(Self.requestTimeout) / 1000, kinds: kinds)
        }
        let noFaults: @Sendable (Double) -> String = { _ in "direct to memcached, no faults" }
        let describer = faults.map(\.describer) ?? noFaults
        let noKills: @Sendable () -> Int = { 0 }
        let proxyKills = faults.map(\.proxyKillCount) ?? noKills
        let keySets = (0..<Self.clientCount).map { Self.keys(client: $0, cluster: cluster) }
        let results = ThreadLock<[ChaosClient.Result]>([])
        let group = DispatchGroup()
        for client in 0..<Self.clientCount {
            let (keys, counters) = keySets[client]
            let seed = Self.seed &+ UInt64(client + 1) &* 0x9E37_79B9
            group.enter()
            Thread {
                defer { group.leave() }
                let worker = ChaosClient(index: client, port: port, keys: keys, counters: counters, seed: seed,
                                         started: started, fault: describer, proxyKills: proxyKills)
                worker.run(until: loadEnd)
                results.withLock { $0.append(worker.result) }
            }.start()
        }

        // The faults, on this thread: the load runs on its own for 2 s first (the scenario).
        if let faults {
            sleep(seconds: min(2, duration / 4))
            faults.run(until: loadEnd, seed: Self.seed)
        }
        let joined = group.wait(timeout: .now() + duration + 60) == .success
        #expect(joined, "client threads hung")
        var problems = faults?.problems ?? []
        if let faults, !faults.waitAllUp(timeout: 60) {
            problems.append("servers not all up after the run: " + ServerStates.describe((try? ServerStates.read(cluster!)) ?? [:]))
        }
        var clients = results.withLock { $0 }.sorted { $0.index < $1.index }

        // The final read of every key through the proxy (or the memcached).
        let reader = try TextClient(port: port, timeout: 10)
        defer { reader.close() }
        func finalRead(_ key: String, counters: Set<String>) throws -> ConsistencyModel.State {
            try reader.send("get \(key)\r\n")
            return try ChaosClient.retrieve(reader, [key], gets: false, counters: counters).values[key] ?? .absent
        }
        var finalNotes: [String] = []
        var mismatched: [(key: String, counters: Set<String>, seen: ConsistencyModel.State)] = []
        for position in clients.indices {
            let counters = keySets[clients[position].index].counters
            for key in clients[position].model.keyNames {
                do {
                    let seen = try finalRead(key, counters: counters)
                    if !clients[position].model.read(key, saw: seen, operation: "final get", kindOnMismatch: .finalMismatch) {
                        mismatched.append((key, counters, seen))
                    }
                } catch {
                    problems.append("final read of \(key): \(error)")
                    break
                }
            }
        }

        // The backup holds what the primaries hold, key by key (read directly; the
        // copies are written in parallel, so this polls a moment before it fails).
        if let cluster {
            let all = clients.flatMap { client in client.model.keyNames.filter(client.model.touched) }
            let allCounters = keySets.reduce(into: Set<String>()) { $0.formUnion($1.counters) }
            var differences: [String: (primary: ConsistencyModel.State, backup: ConsistencyModel.State)] = [:]
            let compared = waitUntil(timeout: 5, interval: 0.1) {
                differences = [:]
                guard let primaries = try? cluster.primaries.map({ try Self.directRead($0, all, counters: allCounters) }),
                      let backup = try? Self.directRead(cluster.backups[0], all, counters: allCounters) else { return false }
                for key in all {
                    let onPrimary = primaries[cluster.placement(of: key).primary][key] ?? .absent
                    let onBackup = backup[key] ?? .absent
                    if onPrimary != onBackup { differences[key] = (onPrimary, onBackup) }
                }
                return differences.isEmpty
            }
            // What each copy of a key the final read found wrong holds now, and what the proxy reads now.
            for (key, counters, seen) in mismatched.prefix(10) {
                let primary = cluster.placement(of: key).primary
                let onPrimary = (try? Self.directRead(cluster.primaries[primary], [key], counters: counters)[key] ?? .absent)?.short ?? "?"
                let onBackup = (try? Self.directRead(cluster.backups[0], [key], counters: counters)[key] ?? .absent)?.short ?? "?"
                let again = (try? finalRead(key, counters: counters))?.short ?? "?"
                finalNotes.append("\(key): the final read saw \(seen.short); now P\(primary + 1) holds \(onPrimary), "
                                  + "B holds \(onBackup), the proxy reads \(again)")
            }
            if !compared {
                for position in clients.indices {
                    for key in clients[position].model.keyNames {
                        guard let (onPrimary, onBackup) = differences[key] else { continue }
                        clients[position].model.record(.backupDiverged, key, "direct read after the run",
                                                       expected: "the backup to hold the primary's \(onPrimary)",
                                                       got: "\(onBackup)")
                    }
                }
            }
        }

        var tally = ConsistencyModel.Tally(examplesPerKind: Self.examples)
        for client in clients { tally.merge(client.model.tally) }
        func sum(_ value: (ChaosClient.Result) -> Int) -> Int { clients.map(value).reduce(0, +) }
        var report = ["consistency chaos: \(Self.direct ? "direct to one memcached" : "through the proxy"), "
                      + "\(Int(duration)) s, seed \(Self.seed), \(clients.count) clients, started \(startedAt) (times below from there)",
                      "operations \(sum(\.operations)) (requests \(sum(\.requests)), pipelined batches \(sum(\.batches))), "
                      + "replies checked \(sum { $0.model.checks }), lost replies \(sum { $0.model.lostReplies }) "
                      + "(SERVER_ERROR \(sum(\.serverErrors))), reconnects \(sum(\.reconnects)), "
                      + "keys given up as unknown \(sum { $0.model.unknownKeys })"]
        if let faults {
            let kinds = ChaosFaults.Kind.allCases.map { kind in "\(kind.rawValue) \(faults.applied.filter { $0.kind == kind }.count)" }
            report.append("faults \(faults.applied.count) (\(kinds.joined(separator: ", "))):")
            report += faults.applied.map { "  \($0)" }
        }
        report += problems.map { "problem: \($0)" }
        report.append(tally.report)
        if !finalNotes.isEmpty { report.append("final mismatches, read again after the backup check:") }
        report += finalNotes.map { "  " + $0 }
        if let cluster, tally.total > 0 {
            // The proxy's server state changes (notice level), to line the examples up with.
            let whole = (cluster.earlierProxyLogs + [cluster.magent.process.standardError]).joined(separator: "\n")
            // MAGENT_CHAOS_LOG: a file for every proxy's whole log (the report has the last 200 lines).
            if let path = Self.environment["MAGENT_CHAOS_LOG"] { try? whole.write(toFile: path, atomically: true, encoding: .utf8) }
            let log = whole.split(separator: "\n").suffix(200)
            report.append("magent log (last \(log.count) lines):")
            report += log.map { "  \($0)" }
        }
        Self.printToStandardError(report.joined(separator: "\n") + "\n")

        #expect(problems.isEmpty, "\(problems)")
        #expect(sum(\.operations) > Self.clientCount * 10, "hardly any operations were done")
        if tally.total > 0 { Issue.record("\(tally.total) consistency violations:\n\(tally.report)") }
    }

    /// Writes all of `text` to stderr (a long report takes several writes to a pipe).
    static func printToStandardError(_ text: String) {
        let data = Array(text.utf8)
        var offset = 0
        for _ in 0..<100_000 where offset < data.count {
            let written = data.withUnsafeBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EINTR || errno == EAGAIN) {
                continue
            } else {
                break
            }
        }
    }

    /// Client `client`'s keys: `keysPerClient` of them, half on each primary, and
    /// which of them are counters.
    static func keys(client: Int, cluster: Cluster?) -> (keys: [String], counters: Set<String>) {
        let perPrimary = keysPerClient / 2
        var keys: [String] = []
        var counters: Set<String> = []
        for primary in 0..<2 {
            for (prefix, count) in [("s", perPrimary - countersPerPrimary), ("n", countersPerPrimary)] {
                var found = 0
                for number in 0..<10_000 where found < count {
                    let key = "c\(client)\(prefix)\(number)"
                    let owner = cluster?.placement(of: key).primary ?? number % 2
                    guard owner == primary else { continue }
                    keys.append(key)
                    if prefix == "n" { counters.insert(key) }
                    found += 1
                }
            }
        }
        return (keys, counters)
    }

    /// What `server` holds of `keys`, read directly (values and flags; the padding
    /// memcached leaves in a shrunk counter trimmed).
    static func directRead(_ server: Memcached, _ keys: [String], counters: Set<String>) throws -> [String: ConsistencyModel.State] {
        let connection = try server.client()
        defer { connection.close() }
        var result: [String: ConsistencyModel.State] = [:]
        for chunk in stride(from: 0, to: keys.count, by: 100) {
            let slice = Array(keys[chunk..<min(chunk + 100, keys.count)])
            try connection.send("get \(slice.joined(separator: " "))\r\n")
            result.merge(try ChaosClient.retrieve(connection, slice, gets: false, counters: counters).values) { $1 }
        }
        return result
    }
}

/// One client thread: its keys, its model, its connection, its seeded choices.
private final class ChaosClient {
    struct Result: Sendable {
        var index: Int
        var model: ConsistencyModel
        var operations = 0
        var requests = 0
        var batches = 0
        var serverErrors = 0
        var reconnects = 0
    }

    /// A request and how its reply is read.
    private enum Request {
        case write(String, ConsistencyModel.Write, [UInt8])
        case read([String], gets: Bool)

        var bytes: [UInt8] {
            switch self {
            case .write(_, _, let bytes): return bytes
            case .read(let keys, let gets): return Array("\(gets ? "gets" : "get") \(keys.joined(separator: " "))\r\n".utf8)
            }
        }

        /// "get k1 k2", "set k"; "batch-get k"... in a pipelined batch.
        func name(batch: Bool) -> String {
            let prefix = batch ? "batch-" : ""
            switch self {
            case .write(let key, let write, _): return "\(prefix)\(write) \(key)"
            case .read(let keys, let gets): return "\(prefix)\(gets ? "gets" : "get") \(keys.joined(separator: " "))"
            }
        }
    }

    /// A retrieval reply: the values seen (counters' padding trimmed) and cas uniques.
    struct Retrieved {
        var values: [String: ConsistencyModel.State] = [:]
        var uniques: [String: UInt64] = [:]
    }

    /// A reply that is no reply to the request (or none at all): the connection is out of step.
    struct ProtocolFailure: Error { var description: String }

    private let port: UInt16
    private let keys: [String]
    private let counters: Set<String>
    private var random: SeededGenerator
    private var connection: TextClient? = nil
    private var everConnected = false
    /// Proxy kills so far, counted twice each (odd while a restart is under way; see
    /// ChaosFaults.proxyKillCount), and as the connection opened: a connection that
    /// breaks after or during a kill broke as it should.
    private let proxyKills: @Sendable () -> Int
    private var proxyKillsAtConnect = 0
    private var sequence = 0
    private(set) var result: Result
    /// A client read waits this long: well over the proxy's request timeout and failover.
    private static let replyTimeout = 5.0
    /// Values are kept under this size (appends stop growing them).
    private static let maxValue = 6000

    init(index: Int, port: UInt16, keys: [String], counters: Set<String>, seed: UInt64, started: Double,
         fault: @escaping @Sendable (Double) -> String, proxyKills: @escaping @Sendable () -> Int) {
        self.port = port
        self.proxyKills = proxyKills
        self.keys = keys
        self.counters = counters
        random = SeededGenerator(seed: seed)
        result = Result(index: index, model: ConsistencyModel(keys: keys, started: started, fault: fault,
                                                              recognises: ChaosClient.isValue,
                                                              examplesPerKind: ConsistencyChaosTests.examples))
    }

    /// Whether `data` is in the encoding of values written here for `key`: counters
    /// a number of 13 digits and more; strings `key#seq#letters`, the letter given by
    /// seq, with prepends `p<seq>-` before and appends `+a<seq>` after.
    @Sendable static func isValue(_ key: String, _ data: String) -> Bool {
        if key.dropFirst().drop(while: \.isNumber).first == "n" {
            return data.utf8.count >= 13 && UInt64(data) != nil
        }
        var rest = Substring(data)
        for _ in 0..<100_000 {
            guard rest.hasPrefix("p"), let dash = rest.firstIndex(of: "-"), UInt64(rest.dropFirst().prefix(upTo: dash)) != nil else { break }
            rest = rest[rest.index(after: dash)...]
        }
        let parts = rest.split(separator: "#", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == key, let sequence = Int(parts[1]) else { return false }
        let letter = Character(UnicodeScalar(UInt8(97 + sequence % 26)))
        var tail = parts[2].drop { $0 == letter }
        for _ in 0..<100_000 {
            guard tail.hasPrefix("+a") else { break }
            let digits = tail.dropFirst(2).prefix { $0.isNumber }
            guard !digits.isEmpty else { return false }
            tail = tail.dropFirst(2 + digits.count)
        }
        return tail.isEmpty
    }

    func run(until deadline: Double) {
        for _ in 0..<10_000_000 {
            guard now() < deadline else { break }
            step()
            result.operations += 1
            // Now and then a fresh connection, as real clients do.
            if random.next() % 500 == 0 {
                connection?.close()
                connection = nil
            }
        }
        connection?.close()
    }

    // MARK: Operations

    private func pick() -> String { keys[Int(random.next() % UInt64(keys.count))] }

    private func nextValue(_ key: String) -> (String, UInt32) {
        sequence += 1
        let flags = UInt32(sequence % 65536)
        if counters.contains(key) { return (String(1_000_000_000_000 + UInt64(sequence) * 1000), flags) }
        let large = random.next() % 20 == 0
        let padding = large ? 1500 + Int(random.next() % 3500) : Int(random.next() % 200)
        let letter = Character(UnicodeScalar(UInt8(97 + sequence % 26)))
        return ("\(key)#\(sequence)#" + String(repeating: letter, count: padding), flags)
    }

    private func storage(_ verb: String, _ key: String, _ data: String, _ flags: UInt32, cas: UInt64? = nil) -> [UInt8] {
        Array("\(verb) \(key) \(flags) 0 \(data.utf8.count)\(cas.map { " \($0)" } ?? "")\r\n\(data)\r\n".utf8)
    }

    /// The largest value `key` may hold now.
    private func longest(_ key: String) -> Int {
        guard let possible = result.model.possible(key) else { return Self.maxValue }
        return possible.map { state -> Int in
            if case .value(let data, _) = state { return data.utf8.count }
            return 0
        }.max() ?? 0
    }

    /// A write of `key`, chosen by `roll` (0..<64).
    private func write(_ key: String, roll: UInt64) -> Request {
        let counter = counters.contains(key)
        switch roll {
        case 0..<20:
            let (data, flags) = nextValue(key)
            return .write(key, .set(data, flags: flags), storage("set", key, data, flags))
        case 20..<26:
            let (data, flags) = nextValue(key)
            return .write(key, .add(data, flags: flags), storage("add", key, data, flags))
        case 26..<38:
            let (data, flags) = nextValue(key)
            return .write(key, .replace(data, flags: flags), storage("replace", key, data, flags))
        case 38..<46:
            let delta = 1 + random.next() % 9
            if counter { return .write(key, .incr(delta), Array("incr \(key) \(delta)\r\n".utf8)) }
            if longest(key) > Self.maxValue { return write(key, roll: 0) }
            sequence += 1
            let suffix = "+a\(sequence)"
            return .write(key, .append(suffix), storage("append", key, suffix, 0))
        case 46..<52:
            let delta = 1 + random.next() % 9
            if counter { return .write(key, .decr(delta), Array("decr \(key) \(delta)\r\n".utf8)) }
            if longest(key) > Self.maxValue { return write(key, roll: 0) }
            sequence += 1
            let prefix = "p\(sequence)-"
            return .write(key, .prepend(prefix), storage("prepend", key, prefix, 0))
        case 52..<56:
            return .write(key, .touch, Array("touch \(key) 0\r\n".utf8))
        default:
            return .write(key, .delete, Array("delete \(key)\r\n".utf8))
        }
    }

    private func step() {
        let roll = random.next() % 100
        switch roll {
        case 32..<38:
            compareAndSwap(pick())
        case 0..<64:
            perform([write(pick(), roll: roll)])
        case 64..<80:
            perform([.read([pick()], gets: random.next() % 4 == 0)])
        case 80..<90:
            let count = 2 + Int(random.next() % 5)
            perform([.read(Array(Set((0..<count).map { _ in pick() })).sorted(), gets: random.next() % 4 == 0)])
        default:
            batch()
        }
    }

    /// gets, then cas with its unique.
    private func compareAndSwap(_ key: String) {
        guard let seen = perform([.read([key], gets: true)]), let unique = seen.uniques[key],
              let state = seen.values[key] else { return }
        let (data, flags) = nextValue(key)
        perform([.write(key, .cas(data, flags: flags, seen: state), storage("cas", key, data, flags, cas: unique))])
    }

    /// Several requests on one or two keys sent at once, writes and reads interleaved,
    /// then the replies read in order: each read must see the writes sent before it.
    private func batch() {
        let batchKeys = random.next() % 3 == 0 ? [pick(), pick()] : [pick()]
        let count = 2 + Int(random.next() % 5)
        var requests: [Request] = []
        for index in 0..<count {
            let key = batchKeys[Int(random.next() % UInt64(batchKeys.count))]
            if index % 2 == 1 || random.next() % 4 == 0 {
                requests.append(.read(index == count - 1 ? Array(Set(batchKeys)).sorted() : [key], gets: random.next() % 3 == 0))
            } else {
                let writeRoll = [0, 0, 0, 38, 38, 46, 56, 56, 26, 20][Int(random.next() % 10)]
                requests.append(write(key, roll: UInt64(writeRoll)))
            }
        }
        result.batches += 1
        result.model.beginBatch(writes: requests.compactMap { request in
            if case .write(let key, let write, _) = request { return (key, write) }
            return nil
        })
        perform(requests, batch: true)
        result.model.endBatch()
    }

    // MARK: The wire

    /// The connection, opened again if it was closed (bounded: 10 s of tries).
    private func open() -> TextClient? {
        if let connection { return connection }
        var opened: TextClient? = nil
        proxyKillsAtConnect = proxyKills()
        waitUntil(timeout: 10, interval: 0.05) {
            opened = try? TextClient(port: port, timeout: Self.replyTimeout)
            return opened != nil
        }
        if opened == nil { result.model.unexpected(keys[0], operation: "connect", got: "no connection within 10 s") }
        if opened != nil && everConnected { result.reconnects += 1 }
        everConnected = everConnected || opened != nil
        connection = opened
        return opened
    }

    /// Sends the requests at once, then reads and checks each reply in order. The
    /// last retrieval's reply is returned (for cas). After a failure the requests
    /// without a reply are lost writes, and the connection is closed.
    @discardableResult
    private func perform(_ requests: [Request], batch: Bool = false) -> Retrieved? {
        guard let connection = open() else {
            for case .write(let key, let write, _) in requests { result.model.wrote(key, write, reply: .lost("no connection")) }
            return nil
        }
        result.requests += requests.count
        var lastRead: Retrieved? = nil
        var failure: String? = nil
        do { try connection.send(requests.flatMap(\.bytes)) } catch { failure = "send failed: \(error)" }
        for request in requests {
            if let failure {
                if case .write(let key, let write, _) = request { result.model.wrote(key, write, reply: .lost(failure)) }
                continue
            }
            do {
                switch request {
                case .write(let key, let write, _):
                    let line = try connection.readLine()
                    guard let reply = Self.writeReply(line) else {
                        throw ProtocolFailure(description: "\"\(escaped(bytes(line), limit: 120))\" is no reply to \(write)")
                    }
                    if case .lost = reply { result.serverErrors += 1 }
                    result.model.wrote(key, write, reply: reply, operation: batch ? "batch-\(write)" : nil)
                case .read(let keys, let gets):
                    let seen = try Self.retrieve(connection, keys, gets: gets, counters: counters)
                    for key in keys {
                        result.model.read(key, saw: seen.values[key] ?? .absent, operation: request.name(batch: batch))
                    }
                    lastRead = seen
                }
            } catch let error as ProtocolFailure {
                result.model.unexpected(requestKey(request), operation: request.name(batch: batch), got: error.description)
                failure = error.description
                if case .write(let key, let write, _) = request { result.model.wrote(key, write, reply: .lost(failure!)) }
            } catch {
                let why = "\(error)".contains("timed out") ? "no reply within \(Self.replyTimeout) s" : "connection lost: \(error)"
                // The proxy it talked to was killed (or is being restarted: an odd
                // count): no reply is the expected outcome.
                let kills = proxyKills()
                if kills == proxyKillsAtConnect && kills % 2 == 0 {
                    result.model.unexpected(requestKey(request), operation: request.name(batch: batch), got: why)
                }
                failure = why
                if case .write(let key, let write, _) = request { result.model.wrote(key, write, reply: .lost(why)) }
            }
        }
        if failure != nil {
            connection.close()
            self.connection = nil
        }
        return failure == nil ? lastRead : nil
    }

    private func requestKey(_ request: Request) -> String {
        switch request {
        case .write(let key, _, _): return key
        case .read(let keys, _): return keys[0]
        }
    }

    /// A write's reply line; SERVER_ERROR is a lost reply; nil for anything else.
    private static func writeReply(_ line: String) -> ConsistencyModel.WriteReply? {
        switch line {
        case "STORED\r\n": return .stored
        case "NOT_STORED\r\n": return .notStored
        case "EXISTS\r\n": return .exists
        case "NOT_FOUND\r\n": return .notFound
        case "DELETED\r\n": return .deleted
        case "TOUCHED\r\n": return .touched
        default:
            if line.hasPrefix("SERVER_ERROR") { return .lost(fields(line).joined(separator: " ")) }
            let number = fields(line)
            if number.count == 1, let value = UInt64(number[0]) { return .number(value) }
            return nil
        }
    }

    /// Reads the reply to a get (or gets) of `keys`, already sent.
    static func retrieve(_ connection: TextClient, _ keys: [String], gets: Bool, counters: Set<String>) throws -> Retrieved {
        var seen = Retrieved()
        for _ in 0...(keys.count + 1) {
            let line = try connection.readLine()
            if line == "END\r\n" { return seen }
            let parts = fields(line)
            guard parts.count >= 4, parts[0] == "VALUE", keys.contains(parts[1]), seen.values[parts[1]] == nil,
                  let flags = UInt32(parts[2]), let length = Int(parts[3]), parts.count == (gets ? 5 : 4) else {
                throw ProtocolFailure(description: "reply line \"\(escaped(bytes(line), limit: 120))\"")
            }
            let block = try connection.read(count: length + 2)
            guard block.suffix(2) == [13, 10] else { throw ProtocolFailure(description: "value of \(parts[1]) not ended by \\r\\n") }
            var data = text(Array(block.dropLast(2)))
            if counters.contains(parts[1]) { while data.last == " " { data.removeLast() } }
            seen.values[parts[1]] = .value(data, flags: flags)
            if gets { seen.uniques[parts[1]] = UInt64(parts[4]) }
        }
        throw ProtocolFailure(description: "more VALUE blocks than keys asked")
    }
}
