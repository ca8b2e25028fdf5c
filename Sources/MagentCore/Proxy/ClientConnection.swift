// One client of the proxy: reads its requests, hands each to the forwarder,
// streams data blocks on to the backends, and writes the replies back in the
// order the requests came, whatever order the backends answer in. While the
// proxy drains it is closed at its first idle moment (ClientDrain).
import CEventShim
import CLibEvent
import Glibc

final class ClientConnection {
    /// Where the data block of the current storage command goes.
    private struct StreamTarget {
        var connection: BackendConnection
        var entry: PendingReply
        /// The connection was busy with another client's value: this one is
        /// collected here and submitted whole once complete.
        var staging: ByteBuffer?
    }

    /// The worker owns this object and lives as long as the process: unowned(unsafe)
    /// spares the checked retain an unowned reference costs on every access.
    unowned(unsafe) let worker: Worker
    let id: Int
    /// The client's socket: events, receive and send loops.
    private let channel = SocketChannel()
    private let fd: Int32

    /// An unfinished request carried over between reads.
    private var input: ByteBuffer { channel.input }
    /// Reply bytes ready to be written (appended through appendToOutput).
    private let output = ByteBuffer()
    private var parser: RequestParser
    /// Decided by the first byte a client sends, as memcached does: 0x80
    /// starts a binary-protocol request, anything else a text line.
    private enum WireProtocol { case undecided, text, binary }
    private var wireProtocol = WireProtocol.undecided
    private var binaryParser = BinaryRequestParser()
    /// Reply slots still owed, oldest first.
    private var replies = RingBuffer<SlotHandle>(initialCapacity: 8)
    /// The request being forwarded now (see `forwardTimed`).
    private var timing = RequestTiming()
    /// Reads still owed to the client, by key: a later write of their key waits (see ReadsInFlight).
    private var readsInFlight = ReadsInFlight()
    private var streamTargets: (StreamTarget?, StreamTarget?) = (nil, nil)
    /// The job that keeps a copy of the value being streamed (for the backup,
    /// or for a write sent after its key is restored).
    private var streamCapture: JobHandle?

    var isDirty = false
    private(set) var isClosed = false
    /// Set by abort(): torn down at the end of the current loop pass.
    private(set) var isClosing = false
    /// quit, a fatal error or end of input: close once every reply is written.
    private var closeWhenFlushed = false
    private var inputEnded = false
    /// Reading stopped until the client reads its replies.
    private var readPaused = false
    /// Jobs holding this client's later requests on some key (see OrderingHolds).
    var orderingHolds = 0
    /// A request waits for an earlier one of this client to be done: it is
    /// kept in `held`, and nothing after it is read or parsed until it goes.
    private var waitingForOrder = false
    private var resumeScheduled = false
    /// Made the first time a request of this client waits, then reused: most
    /// clients never need one (10,000 idle clients must stay small).
    private var held: HeldRequest?

    private final class HeldRequest {
        let bytes = ByteBuffer()
        var text: ParsedRequest?
        var binary: BinaryHeader?
        /// When it was parsed: its latency counts the wait.
        var parsedAt: UInt64 = 0
    }
    /// --client-timeout (see PartialRequestWatch): when the unfinished request
    /// last made progress (0: none unfinished), complete requests seen then,
    /// and the bytes of its value still missing then.
    private var partialSince: UInt64 = 0
    private var requestsSeen = 0
    private var progressRequests = 0
    private var progressDataRemaining = 0
    /// Its place in the worker's list of clients (-1 once closed).
    var registryIndex = -1
    /// Where it stands while the proxy drains.
    private var drain = ClientDrain()

    init(worker: Worker, id: Int, fd: Int32) {
        self.worker = worker
        self.id = id
        self.fd = fd
        parser = RequestParser(allowControlKeys: worker.settings.allowControlKeys, maxValueLength: worker.settings.maxValueSize)
    }

    /// Registers with the event loop; the connection keeps itself alive until close().
    func start() {
        channel.open(fd, base: worker.base, context: Unmanaged.passRetained(self).toOpaque(), readable: { _, _, context in
            Unmanaged<ClientConnection>.fromOpaque(context!).takeUnretainedValue().handleReadable()
        }, writable: { _, _, context in
            Unmanaged<ClientConnection>.fromOpaque(context!).takeUnretainedValue().flush()
        })
    }

    private var log: Logger { worker.context.logger }

    // MARK: - Reading requests

    private func handleReadable() {
        defer { if let watch = worker.partialRequests { notePartialRequest(watch) } }
        var received = 0
        let end = channel.receive(scratch: worker.readScratch, spare: worker.spareBuffers, received: &received,
                                  while: { !isClosed && !isClosing && !inputEnded && !waitingForOrder }, process: process)
        if received > 0 { worker.counters.add(.bytesRead, received) }
        switch end {
        case .drained:
            worker.spareBuffers.reclaim(input)
        case .stopped:
            break
        case .closedByPeer:
            endOfInput()
        case .failed:
            abort()
        }
    }

    /// Parses and dispatches every complete request; returns the bytes used.
    private func process(_ bytes: UnsafeRawBufferPointer) -> Int {
        if wireProtocol == .undecided, let first = bytes.first {
            wireProtocol = first == BinaryHeader.requestMagic ? .binary : .text
        }
        if wireProtocol == .binary { return processBinary(bytes) }
        var offset = 0
        var parsedAt: UInt64 = 0  // one clock read for the requests of one read
        while !isClosing && !inputEnded {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            switch parser.next(rest) {
            case .needMoreData:
                return offset
            case .request(let request):
                requestsSeen &+= 1
                offset += request.lineLength
                if parsedAt == 0 { parsedAt = MonotonicClock.nanoseconds() }
                if mayWaitForOrder && mustWaitForOrder(request, line: rest) {
                    holdRequest(UnsafeRawBufferPointer(rebasing: rest[0..<request.lineLength]), text: request, binary: nil,
                                parsedAt: parsedAt)
                    return offset
                }
                forward(request, line: rest, parsedAt: parsedAt)
            case .data(let count, let isLast):
                streamData(UnsafeRawBufferPointer(rebasing: rest[0..<count]), isLast: isLast)
                offset += count
            case .discarded(let count):
                offset += count
            case .invalid(let error, let consumed):
                requestsSeen &+= 1
                worker.counters.countClientError(error)
                if error == .valueTooLarge { worker.context.stats.limits.valuesTooLarge.add(1) }
                reply(error.replyText)
                offset += consumed
            case .fatal(let error):
                worker.counters.countClientError(error)
                if error == .lineTooLong { worker.context.stats.limits.linesTooLong.add(1) }
                reply(error.replyText)
                closeAfterReplies()
            }
        }
        return bytes.count
    }

    /// Binary packets are taken whole (the parser bounds their size).
    private func processBinary(_ bytes: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        var parsedAt: UInt64 = 0
        while !isClosing && !inputEnded {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            switch binaryParser.next(rest) {
            case .needMoreData:
                return offset
            case .request(let header, let length):
                let packet = UnsafeRawBufferPointer(rebasing: rest[0..<length])
                offset += length
                if parsedAt == 0 { parsedAt = MonotonicClock.nanoseconds() }
                if mayWaitForOrder && mustWaitForOrder(header, packet: packet) {
                    holdRequest(packet, text: nil, binary: header, parsedAt: parsedAt)
                    return offset
                }
                forward(header, packet: packet, parsedAt: parsedAt)
            case .tooLarge(let header):
                worker.counters.add(.valueTooLarge)
                worker.forwarder.replyBinary(.valueTooLarge, opcode: header.opcode, opaque: header.opaque, client: self)
                offset += BinaryHeader.size
            case .discarded(let count):
                offset += count
            case .fatal(let header):
                worker.forwarder.replyBinary(.invalidArguments, opcode: header.opcode, opaque: header.opaque, client: self)
                closeAfterReplies()
            }
        }
        return bytes.count
    }

    /// The client closed its side: answer what it asked, then close.
    private func endOfInput() {
        stopReading()
        if parser.isInDataBlock {
            // A value cut short is never stored.
            abort()
            return
        }
        closeAfterReplies()
    }

    // MARK: - Unfinished requests (--client-timeout)

    /// After each read: starts, refreshes or ends the watch on an unfinished
    /// request. A complete request, or a value 64 KiB nearer its end, is progress.
    private func notePartialRequest(_ watch: PartialRequestWatch) {
        let partial = !isClosing && !isClosed && !inputEnded && (!input.isEmpty || parser.isInDataBlock)
        guard partial else {
            if partialSince != 0 {
                partialSince = 0
                watch.unwatch(self)
            }
            return
        }
        let remaining = parser.dataRemaining
        if partialSince == 0 {
            watch.watch(self)
        } else if requestsSeen == progressRequests
                    && !(remaining > 0 && progressDataRemaining - remaining >= PartialRequestWatch.progressBytes) {
            return
        }
        partialSince = MonotonicClock.milliseconds()
        progressRequests = requestsSeen
        progressDataRemaining = remaining
    }

    /// Whether the unfinished request made no progress for `timeout` ms. A
    /// client whose reading the proxy paused is not to blame.
    func partialRequestExpired(now: UInt64, timeout: UInt64) -> Bool {
        if readPaused || waitingForOrder {
            partialSince = now
            return false
        }
        return partialSince != 0 && now >= partialSince &+ timeout
    }

    /// Called by the watch: a value cut short is dropped with the connection
    /// (never stored, as when the client leaves mid-value); a line that never
    /// ended gets an error after the replies owed.
    func partialRequestTimedOut() {
        partialSince = 0
        worker.context.stats.limits.clientTimeouts.add(1)
        log.info("client \(id): request unfinished for \(worker.settings.clientTimeoutMilliseconds) ms, closing")
        if parser.isInDataBlock {
            stopReading()
            abort()
            return
        }
        stopReading()
        reply(PartialRequestWatch.timeoutReply)
        closeAfterReplies()
    }

    private func stopReading() {
        guard !inputEnded else { return }
        inputEnded = true
        channel.setReading(false)
    }

    // MARK: - Requests held for order

    /// Whether a request touches a key an earlier request of this client still holds.
    private func mustWaitForOrder(_ request: ParsedRequest, line: UnsafeRawBufferPointer) -> Bool {
        if !request.command.readsValue && !readsInFlight.isEmpty && request.key.count > 0 {
            // A base64 key is matched by its decoded bytes: wait rather than decode here.
            if request.command.isMeta && request.meta.base64 { return true }
            if readsInFlight.contains(key: line[request.key]) { return true }
        }
        guard orderingHolds > 0 else { return false }
        let holds = worker.executor.orderingHolds
        if request.command.isRetrieval {
            var keys = LineTokens(range: request.keys)
            while let key = keys.next(in: line) {
                if holds.blocks(self, key: line[key]) { return true }
            }
            return false
        }
        guard request.key.count > 0 else { return false }
        // A base64 key is held by its decoded bytes: wait rather than decode here.
        if request.command.isMeta && request.meta.base64 { return true }
        return holds.blocks(self, key: line[request.key])
    }

    private func mustWaitForOrder(_ header: BinaryHeader, packet: UnsafeRawBufferPointer) -> Bool {
        guard header.keyLength > 0 else { return false }
        let keyStart = BinaryHeader.size + header.extrasLength
        let key = packet[ByteRange(start: keyStart, count: header.keyLength)]
        if BinaryOpcode(rawValue: header.opcode)?.isRetrieval != true && readsInFlight.contains(key: key) { return true }
        return orderingHolds > 0 && worker.executor.orderingHolds.blocks(self, key: key)
    }

    /// Keeps the request (its bytes: the input they sit in moves on) and stops reading.
    private func holdRequest(_ bytes: UnsafeRawBufferPointer, text: ParsedRequest?, binary: BinaryHeader?, parsedAt: UInt64) {
        let held = self.held ?? HeldRequest()
        self.held = held
        held.bytes.clear()
        held.bytes.append(bytes)
        held.text = text
        held.binary = binary
        held.parsedAt = parsedAt
        waitingForOrder = true
        channel.setReading(false)
    }

    /// A hold on this client ended (OrderingHolds calls this): the held
    /// request is looked at again after the current loop pass.
    func orderMayResume() {
        guard waitingForOrder, !resumeScheduled, !isClosed else { return }
        resumeScheduled = true
        worker.resumingClients.append(self)
    }

    /// Sends the held request if nothing holds it any more, then goes on with
    /// what was read after it.
    func resumeAfterOrder() {
        resumeScheduled = false
        guard waitingForOrder, !isClosed, !isClosing, let held else { return }
        let bytes = held.bytes.readableBytes
        if let request = held.text {
            guard !(mayWaitForOrder && mustWaitForOrder(request, line: bytes)) else { return }
            waitingForOrder = false
            forward(request, line: bytes, parsedAt: held.parsedAt)
        } else if let header = held.binary {
            guard !(mayWaitForOrder && mustWaitForOrder(header, packet: bytes)) else { return }
            waitingForOrder = false
            forward(header, packet: bytes, parsedAt: held.parsedAt)
        }
        held.text = nil
        held.binary = nil
        held.bytes.clear()
        if !input.isEmpty { input.consume(process(input.readableBytes)) }
        if !waitingForOrder && !readPaused && !inputEnded && !isClosing { channel.setReading(true) }
        if let watch = worker.partialRequests { notePartialRequest(watch) }
    }

    // MARK: - Data blocks

    /// Called by the forwarder for each backend a storage command goes to.
    func addStreamTarget(_ connection: BackendConnection, entry: PendingReply, line: UnsafeRawBufferPointer) {
        var target = StreamTarget(connection: connection, entry: entry, staging: nil)
        if !connection.beginStream(line, entry: entry, owner: self) {
            let staging = ByteBuffer()
            staging.append(line)
            staging.append("\r\n")
            target.staging = staging
        }
        if streamTargets.0 == nil { streamTargets.0 = target } else { streamTargets.1 = target }
    }

    /// The job `handle` keeps a copy of the coming data block.
    func captureValue(for handle: JobHandle) {
        streamCapture = handle
    }

    private func streamData(_ bytes: UnsafeRawBufferPointer, isLast: Bool) {
        if let capture = streamCapture {
            if isLast { streamCapture = nil }
            worker.executor.captured(capture, bytes, isLast: isLast)
        }
        for index in 0..<2 {
            guard let target = index == 0 ? streamTargets.0 : streamTargets.1 else { continue }
            if let staging = target.staging {
                staging.append(bytes)
                if isLast {
                    // The connection may have failed meanwhile; the pool then gives a fresh one.
                    let connection = worker.pools[target.connection.server.id].connection(forClient: id)
                    var entry = target.entry
                    entry.deadline = worker.replyDeadline()  // whole now: its reply is due
                    connection.submit(staging.readableBytes, appendLineEnd: false, entry: entry)
                }
            } else {
                target.connection.appendStream(bytes)
                if isLast { target.connection.endStream() }
            }
        }
        if isLast { streamTargets = (nil, nil) }
    }

    /// Bytes of the current data block not yet received.
    var dataBlockRemaining: Int { parser.dataRemaining }

    /// A backend connection died, or gave up on this client's stalled value,
    /// while this client was streaming a value to it: the rest is dropped.
    func streamTargetLost(_ connection: BackendConnection) {
        if streamTargets.0?.connection === connection && streamTargets.0?.staging == nil { streamTargets.0 = nil }
        if streamTargets.1?.connection === connection && streamTargets.1?.staging == nil { streamTargets.1 = nil }
    }

    // MARK: - Replies in order

    /// Adds a reply slot; at the head of the order it streams straight out.
    func enqueue(_ handle: SlotHandle, slot: ReplySlot) {
        if timing.parsedAt != 0 { timing.stamp(slot, handle, slots: worker.executor.slots) }
        replies.append(handle)
        if replies.count == 1 { advance() }
    }

    /// A reply made by the proxy itself.
    func reply(_ text: StaticString) {
        reply(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    func reply(_ bytes: UnsafeRawBufferPointer) {
        if replies.isEmpty {
            appendToOutput(bytes)
            markOutputPending()
            return
        }
        let (handle, slot) = worker.executor.slots.acquire()
        slot.client = self
        slot.buffer.append(bytes)
        slot.markComplete()
        enqueue(handle, slot: slot)
    }

    /// quit, or a request after which the stream cannot be trusted: no more
    /// input is read.
    func closeAfterReplies() {
        stopReading()
        if replies.isEmpty {
            closeWhenFlushed = true
            markOutputPending()
            return
        }
        let (handle, slot) = worker.executor.slots.acquire()
        slot.client = self
        slot.closesConnection = true
        slot.markComplete()
        enqueue(handle, slot: slot)
    }

    /// Forwards one request and times it: the newest reply slot it enqueued
    /// records its latency when it leaves (advance); a request answered
    /// before its forwarding returned, or not at all (noreply), is recorded
    /// here. Nested forwarding (a held request let go meanwhile) keeps the
    /// outer request's timing aside.
    /// Whether a request may have to wait for an earlier one (see mustWaitForOrder).
    private var mayWaitForOrder: Bool { orderingHolds > 0 || !readsInFlight.isEmpty }

    /// Forwards a text request, timed, and notes it if it is a read still owed.
    private func forward(_ request: ParsedRequest, line: UnsafeRawBufferPointer, parsedAt: UInt64) {
        let lastSlot = forwardTimed(RequestFamily(request.command), parsedAt: parsedAt) {
            worker.forwarder.forward(request, line: line, client: self)
        }
        noteRead(request, line: line, slot: lastSlot)
    }

    /// Forwards a binary request, timed, and notes it if it is a read still owed.
    private func forward(_ header: BinaryHeader, packet: UnsafeRawBufferPointer, parsedAt: UInt64) {
        let lastSlot = forwardTimed(.other, parsedAt: parsedAt) {
            worker.forwarder.forwardBinary(header, packet: packet, client: self)
        }
        noteRead(header, packet: packet, slot: lastSlot)
    }

    /// Returns the request's newest slot still owed (`.none`: answered already).
    @inline(__always)
    private func forwardTimed(_ family: RequestFamily, parsedAt: UInt64, _ forward: () -> Void) -> SlotHandle {
        let outer = timing
        timing = RequestTiming(parsedAt: parsedAt, family: family)
        forward()
        let lastSlot = timing.lastSlot
        if lastSlot.isNone {
            worker.counters.recordRequest(family, nanoseconds: MonotonicClock.nanoseconds() &- parsedAt)
        }
        timing = outer
        return lastSlot
    }

    /// A read just forwarded, still owed in `slot`: with backups, its keys
    /// hold the client's later writes of them until the slot leaves.
    @inline(__always)
    private func noteRead(_ request: ParsedRequest, line: UnsafeRawBufferPointer, slot: SlotHandle) {
        guard !slot.isNone, worker.topology.backupCount > 0 else { return }
        if request.command.isRetrieval {
            readsInFlight.add(keys: line[request.keys], slot: slot)
        } else if request.command.readsValue && request.key.count > 0 {
            readsInFlight.add(key: line[request.key], slot: slot)
        }
    }

    private func noteRead(_ header: BinaryHeader, packet: UnsafeRawBufferPointer, slot: SlotHandle) {
        guard !slot.isNone, header.keyLength > 0, BinaryOpcode(rawValue: header.opcode)?.isRetrieval == true,
              worker.topology.backupCount > 0 else { return }
        readsInFlight.add(key: packet[ByteRange(start: BinaryHeader.size + header.extrasLength, count: header.keyLength)], slot: slot)
    }

    /// `slot` left: a write that waited for its reads may go on.
    @inline(__always)
    private func readsLeft(_ slot: SlotHandle) {
        guard !readsInFlight.isEmpty else { return }
        var left = readsInFlight.slotLeft(slot)
        // Nothing owed any more: no read can be in flight (whatever the order of the slots).
        if replies.isEmpty && !readsInFlight.isEmpty {
            readsInFlight.removeAll()
            left = true
        }
        if left && waitingForOrder { orderMayResume() }
    }

    func slotCompleted(_ handle: SlotHandle) {
        if replies.first == handle { advance() }
    }

    /// Sends every finished reply at the head of the order and lets the next
    /// unfinished one stream.
    private func advance() {
        let slots = worker.executor.slots
        var now: UInt64 = 0  // one clock read for the replies queued together
        while let head = replies.first {
            guard let slot = slots.slot(head) else {
                replies.popFirst()
                readsLeft(head)
                continue
            }
            slot.startStreaming(into: self)
            guard slot.isComplete else { break }
            replies.popFirst()
            readsLeft(head)
            if slot.closesConnection { closeWhenFlushed = true }
            if slot.requestStart != 0 {
                if head == timing.lastSlot {
                    timing.lastSlot = .none  // still being forwarded: forwardTimed records it
                } else {
                    if now == 0 { now = MonotonicClock.nanoseconds() }
                    worker.counters.recordRequest(slot.requestFamily, nanoseconds: now &- slot.requestStart)
                }
            }
            slots.release(slot, index: head.index)
        }
        markOutputPending()
    }

    /// Reply bytes to be written; the buffer borrows spare memory when it has none.
    func appendToOutput(_ bytes: UnsafeRawBufferPointer) {
        worker.spareBuffers.lend(to: output)
        output.append(bytes)
    }

    func markOutputPending() {
        guard !isDirty else { return }
        isDirty = true
        worker.dirtyClients.append(self)
    }

    /// Writes what the socket takes; closes when told to and all is written.
    /// Nothing more is written once the connection is being aborted: what is
    /// left may end in the middle of a value.
    func flush() {
        guard !isClosed && !isClosing else { return }
        var written = 0
        let end = channel.send(output, written: &written)
        if written > 0 { worker.counters.add(.bytesWritten, written) }
        switch end {
        case .sent:
            break
        case .wouldBlock:
            applyBackpressure()
            return
        case .failed:
            abort()
            return
        }
        applyBackpressure()
        // Idle clients keep no buffer (thousands of them may be open); the
        // next reply borrows the memory back.
        worker.spareBuffers.reclaim(output)
        if closeWhenFlushed && replies.isEmpty { abort() }
        // Its last reply out: a draining client may be idle now.
        if worker.isDraining { checkDrain() }
    }

    /// A client that does not read its replies stops being read from (it
    /// cannot pile up more requests), and is dropped when what it owes passes
    /// the hard limit, so it cannot make the proxy's memory grow without bound.
    private func applyBackpressure() {
        let pending = output.readableCount
        if pending > ClientLimits.maxPendingOutput {
            worker.context.stats.limits.outputLimitDisconnects.add(1)
            log.info("client \(id): \(pending) reply bytes unread, disconnecting")
            worker.counters.add(.outputOverflowDisconnects)
            abort()
        } else if pending > ClientLimits.pauseReadingAbove && !readPaused && !inputEnded {
            readPaused = true
            worker.context.stats.limits.readingPausedForOutput.add(1)
            channel.setReading(false)
        } else if pending < ClientLimits.resumeReadingBelow && readPaused {
            readPaused = false
            if !inputEnded && !waitingForOrder { channel.setReading(true) }
        }
    }

    // MARK: - Draining (SIGTERM)

    /// The proxy stopped listening: from now on this client is closed once idle.
    func drainBegan() {
        _ = drain.handle(.drainBegan)
        checkDrain()
    }

    /// Closes the client if it is idle: writes shut first, and the socket
    /// closed once the client has every reply byte.
    func checkDrain() {
        for _ in 0..<2 {
            guard !isClosed, !isClosing else { return }
            switch drain.handle(.check(drainQueues())) {
            case .none:
                return
            case .shutWrites:
                stopReading()
                shutdown(fd, Int32(SHUT_WR))
                log.debug("client \(id): idle while draining, writes shut")
            case .close:
                log.debug("client \(id): closed by the drain")
                abort()
                return
            }
        }
    }

    private func drainQueues() -> ClientDrain.Queues {
        var unread: Int32 = 0
        var unacknowledged: Int32 = 0
        if magent_socket_queues(fd, &unread, &unacknowledged) != 0 {
            // A socket that cannot be asked has failed: nothing more will reach the client.
            unread = 0
            unacknowledged = 0
        }
        let requestPending = !input.isEmpty || parser.isInDataBlock || binaryParser.isDiscarding || waitingForOrder
            || streamTargets.0 != nil || streamTargets.1 != nil || (!inputEnded && unread > 0)
        return ClientDrain.Queues(requestPending: requestPending, replyPending: !replies.isEmpty || !output.isEmpty,
                                  unacknowledged: Int(unacknowledged))
    }

    // MARK: - Closing

    /// Closes at the end of the current loop pass, whatever is unsent.
    func abort() {
        guard !isClosing && !isClosed else { return }
        isClosing = true
        worker.closingClients.append(self)
    }

    /// Frees everything; only the worker calls this, between callbacks.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if partialSince != 0 {
            partialSince = 0
            worker.partialRequests?.unwatch(self)
        }
        channel.close()
        // A value cut short: pad it so the backend refuses it.
        let remaining = parser.dataRemaining
        // Slots first: what the jobs still answer goes nowhere.
        let executor: JobExecutor = worker.executor
        if orderingHolds > 0 { executor.orderingHolds.dropAll(of: self) }
        readsInFlight.removeAll()
        held = nil
        while let handle = replies.popFirst() {
            executor.slots.release(handle)
        }
        for index in 0..<2 {
            guard let target = index == 0 ? streamTargets.0 : streamTargets.1 else { continue }
            if target.staging != nil {
                executor.failed(target.entry, .uploadStalled)  // never sent
            } else if target.connection.streamOwner === self {
                target.connection.abandonStream(remaining: remaining)
            }
        }
        streamTargets = (nil, nil)
        if let capture = streamCapture {
            streamCapture = nil
            executor.captureAbandoned(capture)  // never sent: the value is incomplete
        }
        output.releaseStorage()
        worker.unregister(self)
        worker.context.stats.clientConnections.add(-1)
        log.debug("client \(id) closed")
        Unmanaged.passUnretained(self).release()
    }
}
