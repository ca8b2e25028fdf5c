// One pipelined connection from a worker to a memcached server: requests are
// written back to back, replies are matched to them in order (FIFO), and a
// late, broken or garbled reply fails everything still owed.
import CLibEvent
import Glibc

final class BackendConnection {
    enum State: UInt8 {
        case disconnected, connecting, connected, closed
    }

    /// The worker owns this object and lives as long as the process: unowned(unsafe)
    /// spares the checked retain an unowned reference costs on every access.
    unowned(unsafe) let worker: Worker
    let server: BackendServer
    let slot: Int
    /// The worker's round-trip histogram (it lives as long as the worker),
    /// held here so that each reply records without a chain of retains.
    private unowned(unsafe) let roundTrips: LatencyHistogram
    private(set) var state = State.disconnected
    /// The socket to memcached: events, receive and send loops.
    private let channel = SocketChannel()
    private var timerEvent: OpaquePointer?
    private var timerArmed = false
    private var connectDeadline: UInt64 = 0

    /// Bytes to send.
    private let output = ByteBuffer()
    /// Requests submitted while a client streams a value into `output`; they
    /// follow the value.
    private let deferred = ByteBuffer()
    /// An unfinished reply carried over between reads.
    private var input: ByteBuffer { channel.input }
    private var pending = RingBuffer<PendingReply>(initialCapacity: 16)
    private var parser = BackendReplyParser()
    /// The client whose data block is being written into `output` right now.
    private(set) var streamOwner: ClientConnection?
    /// When the stream owner, silent since, is given up on (see handleTimer).
    private var streamDeadline: UInt64 = 0

    var isDirty = false
    private(set) var failureScheduled = false
    private var scheduledFailure = BackendFailure.unavailable
    private var countedIdle = false
    private var retiringScheduled = false
    /// The server's address generation when this connection opened (see ResolvedAddress).
    private var addressGeneration = 0

    init(worker: Worker, server: BackendServer, slot: Int) {
        self.worker = worker
        self.server = server
        self.slot = slot
        roundTrips = worker.counters.serverLatency
    }

    /// Open, or about to open, not failing, and to where the server is now.
    var isUsable: Bool { state != .closed && !failureScheduled && !hasMoved }

    /// Opened to an address the server's host name no longer resolves to:
    /// it finishes what it owes and closes once idle; new requests go elsewhere.
    var hasMoved: Bool { state != .disconnected && addressGeneration != server.resolved.generation }

    /// Its server was removed by a reload, or moved: it closes once idle.
    private var isRetiredOrMoved: Bool { worker.pools[server.id].retired || hasMoved }

    /// A request sent (or about to be) is still unanswered.
    var owesReplies: Bool { state != .closed && !pending.isEmpty }

    private var log: Logger { worker.context.logger }

    // MARK: - Sending

    /// Queues one complete request and the reply it expects.
    func submit(_ line: UnsafeRawBufferPointer, appendLineEnd: Bool, entry: PendingReply) {
        if state == .disconnected { connect() }
        let target = streamOwner == nil ? output : deferred
        target.append(line)
        if appendLineEnd { target.append("\r\n") }
        enqueue(entry)
    }

    /// Starts a storage request whose data block the client will stream in
    /// with `appendStream`. Fails (false) while another client is streaming here.
    func beginStream(_ line: UnsafeRawBufferPointer, entry: PendingReply, owner: ClientConnection) -> Bool {
        guard streamOwner == nil else { return false }
        submit(line, appendLineEnd: true, entry: entry)
        streamOwner = owner
        streamDeadline = worker.replyDeadline()
        if !timerArmed && state == .connected { armTimer(milliseconds: UInt64(worker.settings.requestTimeoutMilliseconds)) }
        return true
    }

    func appendStream(_ bytes: UnsafeRawBufferPointer) {
        output.append(bytes)
        streamDeadline = worker.replyDeadline()
        markDirty()
    }

    /// The data block is complete: its reply is now due, and what queued up
    /// behind it follows.
    func endStream() {
        streamOwner = nil
        if let index = streamEntryIndex() { pending[index].deadline = worker.replyDeadline() }
        if !deferred.isEmpty {
            output.append(deferred.readableBytes)
            deferred.clear()
        }
        markDirty()
    }

    /// The client left mid-value: fill the value up to its declared length so
    /// its last two bytes are not \r\n. memcached then refuses it ("bad data
    /// chunk"), stores nothing, and the connection stays in step.
    func abandonStream(remaining: Int) {
        output.appendZeros(remaining)
        if let index = streamEntryIndex() { pending[index].abandoned = true }
        endStream()
    }

    /// The pending entry of the value being streamed: the only one still
    /// waiting for its data (deadline `.max`; staged values are submitted whole,
    /// with a real deadline).
    private func streamEntryIndex() -> Int? {
        var offset = pending.count - 1
        while offset >= 0 {
            if pending[offset].deadline == .max { return offset }
            offset -= 1
        }
        return nil
    }

    private func enqueue(_ entry: PendingReply) {
        worker.counters.add(server: server.id, .requests)
        var entry = entry
        entry.submittedAt = MonotonicClock.nanoseconds()
        pending.append(entry)
        if !timerArmed && state == .connected { armTimer(milliseconds: UInt64(worker.settings.requestTimeoutMilliseconds)) }
        updateIdleCount()
        markDirty()
    }

    func markDirty() {
        guard !isDirty else { return }
        isDirty = true
        worker.dirtyBackends.append(self)
    }

    /// Writes what it can; the rest waits for the socket to become writable.
    func flush() {
        guard state == .connected, !failureScheduled else { return }
        var written = 0
        switch channel.send(output, written: &written) {
        case .sent:
            break
        case .wouldBlock:
            return
        case .failed(let error):
            log.info("memcached \(server.address.displayName): write failed: \(errorText(error))")
            fail(.unavailable)
            return
        }
        if output.capacity > 256 * 1024 { output.releaseStorage() }
    }

    // MARK: - Connecting

    private func connect() {
        let (address, generation) = server.resolved.snapshot()
        addressGeneration = generation
        switch address.connectNonBlocking() {
        case .failure(let error):
            log.info("memcached \(server.address.displayName): connect failed: \(errorText(error.code))")
            state = .connecting
            scheduleFailure(.unavailable)
        case .success(let (socket, connected)):
            worker.counters.add(server: server.id, .connects)
            worker.counters.add(server: server.id, .openConnections)
            let context = Unmanaged.passUnretained(self).toOpaque()
            channel.open(socket, base: worker.base, context: context, readable: { _, _, context in
                Unmanaged<BackendConnection>.fromOpaque(context!).takeUnretainedValue().handleReadable()
            }, writable: { _, _, context in
                Unmanaged<BackendConnection>.fromOpaque(context!).takeUnretainedValue().handleWritable()
            })
            timerEvent = event_new(worker.base, -1, 0, { _, _, context in
                Unmanaged<BackendConnection>.fromOpaque(context!).takeUnretainedValue().handleTimer()
            }, context)
            if connected {
                state = .connected
                log.debug("memcached \(server.address.displayName): connected")
            } else {
                state = .connecting
                channel.setWriteEvent(true)
                connectDeadline = MonotonicClock.milliseconds() &+ UInt64(worker.settings.connectTimeoutMilliseconds)
                armTimer(milliseconds: UInt64(worker.settings.connectTimeoutMilliseconds))
            }
        }
    }

    private func handleWritable() {
        if state == .connecting {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(channel.fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                log.info("memcached \(server.address.displayName): connect failed: \(errorText(error))")
                fail(.unavailable)
                return
            }
            state = .connected
            log.debug("memcached \(server.address.displayName): connected")
            updateIdleCount()
            // The timer was counting the connect timeout; now the oldest reply's deadline counts.
            if let head = pending.first {
                let now = MonotonicClock.milliseconds()
                let timeout = UInt64(worker.settings.requestTimeoutMilliseconds)
                armTimer(milliseconds: head.deadline == .max ? timeout : (head.deadline > now ? Swift.min(head.deadline - now, timeout) : 0))
            }
        }
        flush()
    }

    // MARK: - Deadlines

    private func armTimer(milliseconds: UInt64) {
        var interval = MonotonicClock.timeval(milliseconds: milliseconds)
        event_add(timerEvent, &interval)
        timerArmed = true
    }

    private func handleTimer() {
        timerArmed = false
        let now = MonotonicClock.milliseconds()
        if state == .connecting {
            if now >= connectDeadline {
                log.info("memcached \(server.address.displayName): connect timed out")
                fail(.timeout)
            } else {
                armTimer(milliseconds: connectDeadline - now)
            }
            return
        }
        guard state == .connected else { return }
        if let owner = streamOwner, now >= streamDeadline {
            // A client stalled in the middle of a value must not hold up the
            // requests of others queued behind it on this connection: the
            // value is dropped (memcached refuses the padded block) and the
            // rest of it, if it ever comes, goes nowhere.
            log.info("client \(owner.id) stalled in the middle of a value to memcached \(server.address.displayName): dropped")
            worker.counters.add(.stalledValuesDropped)
            owner.streamTargetLost(self)
            abandonStream(remaining: owner.dataBlockRemaining)
        }
        guard let head = pending.first else { return }
        if head.deadline <= now {
            log.info("memcached \(server.address.displayName): no reply within \(worker.settings.requestTimeoutMilliseconds) ms")
            fail(.timeout)
            return
        }
        let timeout = UInt64(worker.settings.requestTimeoutMilliseconds)
        var next = head.deadline == .max ? timeout : Swift.min(head.deadline - now, timeout)
        if streamOwner != nil { next = Swift.min(next, streamDeadline > now ? streamDeadline - now : 0) }
        armTimer(milliseconds: next)
    }

    // MARK: - Replies

    private func handleReadable() {
        var received = 0
        let end = channel.receive(scratch: worker.readScratch, spare: nil, received: &received,
                                  while: { (state == .connected || state == .connecting) && !failureScheduled }, process: process)
        switch end {
        case .drained:
            if input.isEmpty && input.capacity > 64 * 1024 { input.releaseStorage() }
        case .stopped:
            break
        case .closedByPeer:
            if pending.isEmpty && streamOwner == nil {
                log.debug("memcached \(server.address.displayName): closed an idle connection")
                closeSocket()
                server.health.doubtIdentity()  // memcached closes idle connections when it exits
            } else {
                log.info("memcached \(server.address.displayName): connection closed with \(pending.count) replies owed")
                fail(.unavailable)
            }
        case .failed(let error):
            log.info("memcached \(server.address.displayName): read failed: \(errorText(error))")
            fail(.unavailable)
        }
    }

    /// Hands complete reply pieces to the jobs they answer; returns the bytes consumed.
    private func process(_ bytes: UnsafeRawBufferPointer) -> Int {
        let executor: JobExecutor = worker.executor
        var offset = 0
        var completed = false
        var now: UInt64 = 0  // one clock read for the replies of one read
        while let head = pending.first, state != .closed {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            switch parser.next(rest, shape: head.shape) {
            case .needMoreData:
                if completed { server.health.recordSuccess() }
                return offset
            case .itemHeader(let length):
                executor.itemStarted(head, rest[ByteRange(start: 0, count: length)])
                offset += length
            case .itemData(let count, let isLast):
                executor.itemBytes(head, rest[ByteRange(start: 0, count: count)], endsItem: isLast)
                offset += count
                if isLast && (head.shape == .meta || head.shape == .metaClient) {
                    // A meta reply ends with its value.
                    headReplied(&now)
                    completed = true
                    executor.ended(head)
                }
            case .statLine(let length):
                executor.statLine(head, rest[ByteRange(start: 0, count: length)])
                offset += length
            case .end(let length):
                headReplied(&now)
                offset += length
                completed = true
                executor.ended(head)
            case .line(let length, _):
                headReplied(&now)
                offset += length
                completed = true
                if head.abandoned {
                    executor.failed(head, .uploadStalled, from: server.id)
                } else {
                    executor.line(head, rest[ByteRange(start: 0, count: length)], from: server.id)
                }
            case .protocolError:
                log.info("memcached \(server.address.displayName): reply out of step with requests")
                fail(.protocolError)
                return bytes.count
            }
        }
        if completed { server.health.recordSuccess() }
        updateIdleCount()
        if offset < bytes.count && state != .closed {
            log.info("memcached \(server.address.displayName): sent \(bytes.count - offset) bytes nobody asked for")
            fail(.protocolError)
            return bytes.count
        }
        return offset
    }

    /// One reply of the oldest entry is complete: the entry leaves the queue
    /// once every reply it stands for is in.
    private func headReplied(_ now: inout UInt64) {
        if pending[0].repliesLeft > 1 {
            pending[0].repliesLeft -= 1
        } else if let entry = pending.popFirst() {
            if now == 0 { now = MonotonicClock.nanoseconds() }
            roundTrips.record(row: server.id, nanoseconds: now &- entry.submittedAt)
        }
    }

    // MARK: - Failing and closing

    /// Fails the connection at the end of the current loop pass (never in the
    /// middle of the caller's work).
    private func scheduleFailure(_ reason: BackendFailure) {
        guard !failureScheduled else { return }
        failureScheduled = true
        scheduledFailure = reason
        worker.failingBackends.append(self)
    }

    func runScheduledFailure() { fail(scheduledFailure) }

    /// Closes the connection and fails every reply still owed, so each job
    /// can fall back to the backup or answer an error.
    func fail(_ reason: BackendFailure) {
        guard state != .closed else { return }
        // Nothing was ever written on a connection that never opened.
        let reason = state == .connected ? reason : reason == .timeout ? .connectTimeout : .notSent
        worker.counters.add(server: server.id, reason == .timeout || reason == .connectTimeout ? .timeouts : .errors)
        closeSocket()
        // Closed, reset or refused (not a timeout or a garbled reply): what a
        // memcached that exited looks like, so it may have restarted empty.
        if reason == .unavailable || reason == .notSent { server.health.doubtIdentity() }
        if server.health.recordFailure() {
            log.notice("\(worker.topology.describe(server)) is down")
        }
        if let owner = streamOwner {
            streamOwner = nil
            owner.streamTargetLost(self)
        }
        let now = pending.isEmpty ? 0 : MonotonicClock.nanoseconds()
        while let entry = pending.popFirst() {
            worker.counters.add(server: server.id, .failedRequests)
            roundTrips.record(row: server.id, nanoseconds: now &- entry.submittedAt)
            worker.executor.failed(entry, reason, from: server.id)
        }
    }

    private func closeSocket() {
        if state == .closed { return }
        state = .closed
        if let timerEvent { event_free(timerEvent) }
        timerEvent = nil
        if channel.isOpen { worker.counters.add(server: server.id, .openConnections, -1) }
        channel.close()
        output.releaseStorage()
        deferred.releaseStorage()
        parser.reset()
        updateIdleCount()
        worker.pools[server.id].remove(self)
    }

    /// Keeps the `pool size` count of `stats` true: open and owing nothing.
    private func updateIdleCount() {
        let idle = state == .connected && pending.isEmpty
        guard idle != countedIdle else { return }
        countedIdle = idle
        worker.idleCounters[server.id].add(idle ? 1 : -1)
        if idle && !retiringScheduled && isRetiredOrMoved {
            retiringScheduled = true
            worker.retiringBackends.append(self)
        }
    }

    /// Its server was removed by a reload, or its address changed: closes
    /// once nothing is owed here.
    func closeIfRetiredOrMovedAndIdle() {
        retiringScheduled = false
        guard state != .closed, isRetiredOrMoved, pending.isEmpty, streamOwner == nil, !failureScheduled else { return }
        log.debug("\(worker.topology.describe(server)): closed a connection, "
                  + (worker.pools[server.id].retired ? "the server was removed" : "its address changed"))
        closeSocket()
    }
}
