// Refills a recovering server in the background: lists the keys of the other
// copy (lru_crawler metadump), and copies back every key that belongs to the
// recovering server with add semantics, flags and remaining TTL, at a bounded
// rate. A recovering primary is refilled from the backups, a recovering
// backup from the primaries. Runs on its own thread with blocking sockets.
// Each pass uses the generation current when it began; a reload interrupts a
// refill, which starts again over the new servers.
import Glibc

final class ServerRefiller: @unchecked Sendable {
    private let context: ProxyContext
    private var thread = pthread_t()
    /// Keys copied per pipelined round trip.
    static let batchSize = 64
    /// memcached's limit for a relative exptime; longer TTLs go as absolute times.
    static let maxRelativeExptime = 60 * 60 * 24 * 30

    init(context: ProxyContext) { self.context = context }

    func start() {
        let status = pthread_create(&thread, nil, { context in
            Unmanaged<ServerRefiller>.fromOpaque(context!).takeUnretainedValue().run()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        if status != 0 { context.logger.error("cannot start the refill thread: \(errorText(status))") }
    }

    private var log: Logger { context.logger }

    private func run() {
        while true {
            let generation = context.generation
            let topology = generation.topology
            // Back from being down with its data: every key it missed is dropped
            // from it (reads meanwhile go to the other copy); then it recovers
            // like a restarted server (misses asked of the other copy, refill).
            // A server whose failed requests may still run there (a frozen
            // one thawing runs what sat in its socket buffers) is given
            // nothing yet: that could undo what it is given.
            let now = MonotonicClock.milliseconds()
            let settle = generation.configuration.settleMilliseconds
            let settled = topology.members.filter { $0.health.hasSettled(now: now, settleMilliseconds: settle) }
            // Asked again before each step: a step on one server can take
            // seconds (one that froze meanwhile times out), and a server that
            // failed since the pass began is not settled any more.
            func stillSettled(_ server: BackendServer) -> Bool {
                server.health.hasSettled(now: MonotonicClock.milliseconds(), settleMilliseconds: settle)
            }
            // It missed more keys than its list holds: which of its copies
            // are old is not known, so it is emptied and refilled in full.
            for server in settled where server.health.keptKeysOverflowed && stillSettled(server) {
                do {
                    try flushAll(server)
                    context.pendingDeletes.clear(server: server.id)
                    server.health.markResynced()
                    _ = server.health.markRecovering()
                    server.health.clearKeptKeysOverflowed()
                    log.notice("\(topology.describe(server)): flushed (it missed more keys than its list holds); refilling it in full")
                } catch {
                    log.info("\(topology.describe(server)): not flushed yet (\(error))")
                }
            }
            for server in settled where server.health.isResyncing && !server.health.keptKeysOverflowed && stillSettled(server) {
                do {
                    let missed = context.pendingDeletes.count(server: server.id)
                    try applyPendingDeletes(on: server, over: connect(server))
                    server.health.markResynced()
                    log.notice("\(topology.describe(server)): dropped \(missed) keys it missed while away")
                } catch {
                    log.info("\(topology.describe(server)): keys it missed not dropped yet (\(error))")
                }
            }
            // Keys a server in use missed (a request to it failed, it was not marked down).
            for server in settled where !server.health.isRecovering && !server.health.keptKeysOverflowed
                && context.pendingDeletes.count(server: server.id) > 0 && stillSettled(server) {
                do {
                    try applyKeptKeys(on: server, in: topology)
                } catch {
                    log.info("\(topology.describe(server)): kept keys not applied yet (\(error))")
                }
            }
            // Not while the keys it missed are still to be dropped (a resync
            // that failed this pass): a refill done first would be undone by
            // those deletes, and the server, no longer recovering, would
            // answer misses for keys the other copy holds.
            for server in settled where server.health.isRecovering && !server.health.isResyncing
                && !server.health.keptKeysOverflowed && stillSettled(server) {
                do {
                    let addressGeneration = server.resolved.generation
                    try refill(server, in: generation, addressGeneration: addressGeneration)
                    server.health.markRecovered()
                    // Its host name resolved elsewhere as the refill ended: the next pass refills the new address.
                    if server.resolved.generation != addressGeneration {
                        server.health.markRecovering()
                        continue
                    }
                    log.notice("\(topology.describe(server)) is up: refilled, \(server.health.refillCopied.current) keys copied")
                } catch {
                    log.info("\(topology.describe(server)): refill interrupted (\(error)); retrying")
                    usleep(1_000_000)
                }
            }
            usleep(100_000)
        }
    }

    /// Empties `server` (its kept list overflowed).
    private func flushAll(_ server: BackendServer) throws {
        let connection = try connect(server)
        try connection.send(Array("flush_all\r\n".utf8))
        let reply = try connection.readLine()
        guard reply.elementsEqual("OK".utf8) else {
            throw BlockingConnection.Failure(description: "flush_all answered \(String(decoding: reply, as: UTF8.self))")
        }
    }

    private func connect(_ server: BackendServer) throws -> BlockingConnection {
        try BlockingConnection(to: server.socketAddress,
                               timeoutMilliseconds: max(context.generation.configuration.requestTimeoutMilliseconds, 2000))
    }

    /// The servers holding the other copy of `target`'s keys.
    private func sources(for target: BackendServer, in topology: ServerTopology) -> [BackendServer] {
        topology.members.filter { $0.role != target.role && $0.health.isUp }
    }

    /// Copies to `target` what the other copy holds of its keys; interrupted
    /// when the target's address moves on from `addressGeneration`.
    private func refill(_ target: BackendServer, in generation: ProxyGeneration, addressGeneration: Int) throws {
        let topology = generation.topology
        // Every server that may hold the other copy of its keys must be up:
        // finishing without one would leave the keys it holds missing for good.
        if let absent = topology.members.first(where: { $0.role != target.role && !$0.health.isUp }) {
            throw BlockingConnection.Failure(description: "waiting for memcached \(absent.address.displayName), which is down")
        }
        let health = target.health
        health.refillCopied.add(-health.refillCopied.current)
        health.refillLeft.add(-health.refillLeft.current)
        let destination = try connect(target)
        try applyPendingDeletes(on: target, over: destination)

        var work: [(source: BackendServer, keys: [[UInt8]])] = []
        for source in sources(for: target, in: topology) {
            let keys = try listKeys(on: source).filter { key in
                let route = key.withUnsafeBytes { topology.route(for: $0) }
                return target.role == .primary
                    ? route.primary == target.id && route.backup == source.id
                    : route.backup == target.id && route.primary == source.id
            }
            work.append((source, keys))
            health.refillLeft.add(keys.count)
        }
        log.notice("\(topology.describe(target)): refilling \(health.refillLeft.current) keys")
        for (source, keys) in work {
            let origin = try connect(source)
            var start = 0
            while start < keys.count {
                let began = MonotonicClock.milliseconds()
                let batch = Array(keys[start..<min(start + Self.batchSize, keys.count)])
                // Reads of these go to the source meanwhile; not those deleted
                // while the source was away (not copied, and its copy is stale).
                context.keysBeingCopied.publish(batch.filter { context.pendingDeletes.missedWrite(server: source.id, key: $0) != false },
                                                server: target.id)
                defer { context.keysBeingCopied.clear(server: target.id) }
                let copied = try copy(batch, from: source, over: origin, to: destination)
                health.refillCopied.add(copied)
                health.refillLeft.add(-batch.count)
                start += batch.count
                // Rate limit: a batch takes at least batch / rate seconds.
                let current = context.generation
                guard current.topology === topology else { throw BlockingConnection.Failure(description: "the server list was reloaded") }
                let minimum = Double(batch.count) / Double(current.configuration.refillRate) * 1000
                let spent = Double(MonotonicClock.milliseconds() - began)
                if spent < minimum { usleep(UInt32((minimum - spent) * 1000)) }
                guard target.health.isUp else { throw BlockingConnection.Failure(description: "the server went down") }
                guard target.resolved.generation == addressGeneration else {
                    throw BlockingConnection.Failure(description: "its host name resolved to a new address")
                }
                // Down since (it may have missed a flush_all): its keys are not copied on.
                guard source.health.isUp else {
                    throw BlockingConnection.Failure(description: "memcached \(source.address.displayName), the source, went down")
                }
            }
        }
    }

    /// Drops every key kept for the server (deletes and writes it missed while away).
    private func applyPendingDeletes(on target: BackendServer, over connection: BlockingConnection) throws {
        for key in context.pendingDeletes.keys(for: target.id) {
            // Forgotten since the list was taken: nothing to drop.
            guard let entry = context.pendingDeletes.entry(server: target.id, key: key) else { continue }
            let line = ByteBuffer()
            key.withUnsafeBytes { StorageLine.writeDelete(key: $0, into: line) }
            try connection.send(Array(line.readableBytes))
            let reply = try connection.readLine()
            guard reply.elementsEqual("DELETED".utf8) || reply.elementsEqual("NOT_FOUND".utf8)
                    || reply.elementsEqual("HD".utf8) || reply.elementsEqual("NF".utf8) else {
                throw BlockingConnection.Failure(description: "delete answered \(String(decoding: reply, as: UTF8.self))")
            }
            // A client write of the key meanwhile keeps it kept: it goes to
            // the other copy, and this server gets that state later.
            context.pendingDeletes.remove(server: target.id, key: key, applied: entry)
        }
    }

    /// The keys a server in use missed: a missed delete is applied; a missed
    /// write is copied from the other copy with `set` (the other copy has the
    /// newer state), or deleted when the other copy no longer has the key (or
    /// there is none). A key whose other copy is unreachable stays kept for
    /// the next pass, and so does one the other copy misses while it may have
    /// restarted empty (a miss there proves nothing until the restart is seen
    /// and the other copy is refilled).
    private func applyKeptKeys(on target: BackendServer, in topology: ServerTopology) throws {
        let destination = try connect(target)
        var origins: [Int: BlockingConnection] = [:]
        let line = ByteBuffer()
        let now = MonotonicClock.milliseconds()
        let settle = context.generation.configuration.settleMilliseconds
        for key in context.pendingDeletes.keys(for: target.id) {
            // The entry as it was before the other copy is read: if a client
            // write touches the key from here on, the entry stays.
            guard let entry = context.pendingDeletes.entry(server: target.id, key: key) else { continue }
            let flushesBefore = context.flushes.snapshot
            line.clear()
            let route = key.withUnsafeBytes { topology.route(for: $0) }
            // Where the newer state is; none (the backups were removed): the key is dropped.
            let otherID = entry.missedWrite ? (target.role == .primary ? route.backup : route.primary) : -1
            if otherID >= 0 {
                // Kept for the next pass while the other copy is away or may
                // still run requests that failed there.
                guard topology.known[otherID].health.hasSettled(now: now, settleMilliseconds: settle) else { continue }
                let origin = try origins[otherID] ?? connect(topology.known[otherID])
                origins[otherID] = origin
                line.append("mg ")
                let encoded = key.withUnsafeBytes { KeyToken.append($0, to: line) }
                line.append(encoded ? " b s v f t\r\n" : " s v f t\r\n")
                try origin.send(Array(line.readableBytes))
                let item = try MetaItem.read(from: origin)
                if item == nil, try !answersAsTheKnownProcess(topology.known[otherID], over: origin) { continue }
                line.clear()
                if let item {
                    line.append("ms ")
                    let encoded = key.withUnsafeBytes { KeyToken.append($0, to: line) }
                    line.append(byte: 32)
                    line.appendDecimal(item.value.count)
                    if encoded { line.append(" b") }
                    line.append(" F")
                    line.appendDecimal(Int(item.flags))
                    line.append(" T")
                    line.appendDecimal(Self.exptime(remaining: item.ttl))
                    line.append("\r\n")
                    item.value.withUnsafeBytes { line.append($0) }
                    line.append("\r\n")
                }
            }
            if line.isEmpty { key.withUnsafeBytes { StorageLine.writeDelete(key: $0, into: line) } }
            try destination.send(Array(line.readableBytes))
            let reply = try destination.readLine()
            guard reply.starts(with: "HD".utf8) || reply.elementsEqual("NF".utf8) || reply.elementsEqual("DELETED".utf8)
                    || reply.elementsEqual("NOT_FOUND".utf8) else {
                throw BlockingConnection.Failure(description: "kept key answered \(String(decoding: reply, as: UTF8.self))")
            }
            // A flush_all may have run between the read and the copy: the key
            // stays kept, and the next pass copies the state after the flush.
            if FlushActivity.mayHaveRun(between: flushesBefore, and: context.flushes.snapshot) { continue }
            context.pendingDeletes.remove(server: target.id, key: key, applied: entry)
        }
    }

    /// Whether `server` is still the memcached process the health monitor
    /// knows, not recovering: then a miss it answered is a key it really
    /// does not hold, not one it lost in a restart not yet noticed.
    private func answersAsTheKnownProcess(_ server: BackendServer, over connection: BlockingConnection) throws -> Bool {
        try connection.send(Array("stats\r\n".utf8))
        var reply: [UInt8] = []
        for _ in 0..<1000 {
            let line = try connection.readLine()
            if line.elementsEqual("END".utf8) { break }
            reply += line + [10]
        }
        guard let identity = HealthProbe.identity(fromStats: reply) else { return false }
        return identity.pid == server.health.processID && !server.health.isRecovering && !server.health.mayHaveRestarted
    }

    /// Every key a server holds, from `lru_crawler metadump all`.
    private func listKeys(on server: BackendServer) throws -> [[UInt8]] {
        let connection = try connect(server)
        for attempt in 0..<50 {
            try connection.send(Array("lru_crawler metadump all\r\n".utf8))
            var keys: [[UInt8]] = []
            while true {
                let line = try connection.readLine()
                if line.elementsEqual("END".utf8) { return keys }
                if line.starts(with: "BUSY".utf8) && attempt < 49 { break }
                guard line.starts(with: "key=".utf8) else {
                    throw BlockingConnection.Failure(description: "metadump answered \(String(decoding: line.prefix(80), as: UTF8.self))")
                }
                let field = line.dropFirst(4).prefix { $0 != 32 }
                if let key = Self.percentDecoded(field) { keys.append(key) }
            }
            usleep(100_000)
        }
        throw BlockingConnection.Failure(description: "the lru crawler stayed busy")
    }

    static func percentDecoded(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == 37 {
                guard index + 2 < text.endIndex,
                      let high = hexValue(text[index + 1]), let low = hexValue(text[index + 2]) else { return nil }
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(text[index])
                index += 1
            }
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 65...70: return byte - 55
        case 97...102: return byte - 87
        default: return nil
        }
    }

    /// Reads a batch from the source with `mg` (value, flags, remaining TTL)
    /// and adds each to the destination (`ms ... ME c`: add semantics, and the
    /// CAS of what was stored). Returns how many were stored.
    ///
    /// A client's delete can pass between the read and the add: it reaches the
    /// source and the (still empty) destination, then the add brings the value
    /// back on the destination. So once the batch is stored, every key is
    /// looked up on the source again, and one the source no longer has is
    /// deleted from the destination, only if it still holds the copy this
    /// refill stored (`md` with that CAS): a newer write is never undone.
    /// A flush_all that may have run meanwhile undoes the whole batch the
    /// same way: what was read may be what it dropped.
    private func copy(_ keys: [[UInt8]], from source: BackendServer, over origin: BlockingConnection,
                      to destination: BlockingConnection) throws -> Int {
        let flushesBefore = context.flushes.snapshot
        var request: [UInt8] = []
        for key in keys { request += Array("mg ".utf8) + key + Array(" s v f t\r\n".utf8) }
        try origin.send(request)
        var additions: [UInt8] = []
        var added: [[UInt8]] = []
        for key in keys {
            guard let item = try MetaItem.read(from: origin) else { continue }
            // A key deleted while its source was unreachable must not come back.
            // One the source only missed a write of is still the newest copy
            // left (the target restarted empty): it is copied, and the kept
            // write is settled from it later.
            if context.pendingDeletes.missedWrite(server: source.id, key: key) == false { continue }
            additions += Array("ms ".utf8) + key
                + Array(" \(item.value.count) F\(item.flags) T\(Self.exptime(remaining: item.ttl)) ME c\r\n".utf8)
            additions += item.value + [13, 10]
            added.append(key)
        }
        guard !added.isEmpty else { return 0 }
        try destination.send(additions)
        var stored: [(key: [UInt8], cas: ArraySlice<UInt8>)] = []
        for key in added {
            let reply = try destination.readLine()
            guard reply.starts(with: "HD".utf8) else { continue }
            let cas = reply.split(separator: 32).first { $0.first == UInt8(ascii: "c") }?.dropFirst() ?? []
            stored.append((key, cas))
        }
        if FlushActivity.mayHaveRun(between: flushesBefore, and: context.flushes.snapshot) {
            try deleteWhereStillStored(stored, on: destination)
            return 0
        }
        try undoDeletedSince(stored, source: origin, destination: destination)
        return stored.count
    }

    /// Deletes what this refill stored, where it is still as stored (`md`
    /// with the CAS of the copy): a newer write is never undone.
    private func deleteWhereStillStored(_ stored: [(key: [UInt8], cas: ArraySlice<UInt8>)],
                                        on destination: BlockingConnection) throws {
        var deletes: [UInt8] = []
        for entry in stored where !entry.cas.isEmpty {
            deletes += Array("md ".utf8) + entry.key + Array(" C".utf8) + entry.cas + Array(" q\r\n".utf8)
        }
        guard !deletes.isEmpty else { return }
        // Quiet deletes answer only when they fail (NF, EX: a newer write won); mn ends the batch.
        try destination.send(deletes + Array("mn\r\n".utf8))
        for _ in 0...stored.count {
            let reply = try destination.readLine()
            if reply.elementsEqual("MN".utf8) { break }
        }
    }

    /// The second half of copy(): keys the source lost since they were read.
    private func undoDeletedSince(_ stored: [(key: [UInt8], cas: ArraySlice<UInt8>)], source: BlockingConnection,
                                  destination: BlockingConnection) throws {
        guard !stored.isEmpty else { return }
        var lookups: [UInt8] = []
        for entry in stored { lookups += Array("mg ".utf8) + entry.key + [13, 10] }
        try source.send(lookups)
        var gone: [(key: [UInt8], cas: ArraySlice<UInt8>)] = []
        for entry in stored {
            let reply = try source.readLine()
            if reply.elementsEqual("EN".utf8) {
                gone.append(entry)
            } else if !reply.starts(with: "HD".utf8) {
                throw BlockingConnection.Failure(description: "mg answered \(String(decoding: reply.prefix(80), as: UTF8.self))")
            }
        }
        try deleteWhereStillStored(gone, on: destination)
    }

    /// The exptime that gives an item `remaining` seconds more (-1: never expires).
    static func exptime(remaining: Int) -> Int {
        if remaining < 0 { return 0 }
        if remaining == 0 { return 1 }
        if remaining <= maxRelativeExptime { return remaining }
        return Int(time(nil)) + remaining
    }
}

/// One `mg <key> s v f t` reply.
struct MetaItem {
    var flags: UInt32
    var ttl: Int
    var value: [UInt8]

    /// nil for a miss (EN).
    static func read(from connection: BlockingConnection) throws -> MetaItem? {
        let header = try connection.readLine()
        if header.elementsEqual("EN".utf8) { return nil }
        guard header.starts(with: "VA ".utf8) else {
            throw BlockingConnection.Failure(description: "mg answered \(String(decoding: header.prefix(80), as: UTF8.self))")
        }
        let fields = header.split(separator: 32)
        guard fields.count >= 2, let size = Int(String(decoding: fields[1], as: UTF8.self)) else {
            throw BlockingConnection.Failure(description: "bad mg header")
        }
        var item = MetaItem(flags: 0, ttl: -1, value: [])
        for field in fields.dropFirst(2) {
            let value = String(decoding: field.dropFirst(), as: UTF8.self)
            switch field.first {
            case UInt8(ascii: "f"): item.flags = UInt32(value) ?? 0
            case UInt8(ascii: "t"): item.ttl = Int(value) ?? -1
            default: break
            }
        }
        let data = try connection.readBytes(size + 2)
        item.value = Array(data[0..<size])
        return item
    }
}
