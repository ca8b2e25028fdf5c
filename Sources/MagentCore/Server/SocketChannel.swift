// One non-blocking socket on a worker's event loop, as both kinds of
// connection use it: its read and write events, the receive loop that hands
// bytes to a parser and keeps what it left unfinished, and the send loop that
// writes what the socket takes and waits for it to take the rest.
import CLibEvent
import Glibc

final class SocketChannel {
    /// How a receive pass ended.
    enum ReceiveEnd: Equatable {
        /// Nothing more to read now (or the pass read its share).
        case drained
        /// The owner stopped reading (it closed, paused or is failing).
        case stopped
        /// The peer closed its side.
        case closedByPeer
        case failed(Int32)
    }

    /// How a send pass ended.
    enum SendEnd: Equatable {
        /// Everything was written.
        case sent
        /// The socket is full: the write event is armed for the rest.
        case wouldBlock
        case failed(Int32)
    }

    private(set) var fd: Int32 = -1
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private var writeEventActive = false
    /// An unfinished message carried over between reads.
    let input = ByteBuffer()

    init() {}

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    var isOpen: Bool { fd >= 0 }

    /// Takes `fd` and registers its events; `readable` and `writable` get
    /// `context` (the owner, unretained: it closes the channel before it goes).
    func open(_ fd: Int32, base: OpaquePointer, context: UnsafeMutableRawPointer,
              readable: event_callback_fn, writable: event_callback_fn) {
        self.fd = fd
        readEvent = event_new(base, fd, Int16(EV_READ | EV_PERSIST), readable, context)
        writeEvent = event_new(base, fd, Int16(EV_WRITE | EV_PERSIST), writable, context)
        event_add(readEvent, nil)
    }

    /// Reads while there is something to read (at most 16 reads a pass, so
    /// one busy socket cannot starve the others), handing the bytes to
    /// `process`, which returns how many it used; the rest waits in `input`
    /// for the next read. `received` adds up the bytes read.
    @inline(__always)
    func receive(scratch: UnsafeMutableRawBufferPointer, spare: SpareBufferStorage?, received total: inout Int,
                 while keepReading: () -> Bool, process: (UnsafeRawBufferPointer) -> Int) -> ReceiveEnd {
        for _ in 0..<16 {
            guard isOpen, keepReading() else { return .stopped }
            let received: Int
            if input.isEmpty {
                // The common case: a whole request or reply in one read, parsed
                // straight from the worker's scratch, never copied.
                received = recv(fd, scratch.baseAddress, scratch.count, 0)
                if received > 0 {
                    let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<received])
                    let consumed = process(bytes)
                    if consumed < received && isOpen {
                        if let spare { spare.lend(to: input) }
                        input.append(UnsafeRawBufferPointer(rebasing: bytes[consumed...]))
                    }
                }
            } else {
                input.reserveWritable(16 * 1024)
                let tail = input.writableTail
                received = recv(fd, tail.baseAddress, tail.count, 0)
                if received > 0 {
                    input.commitWritten(received)
                    let consumed = process(input.readableBytes)
                    if isOpen { input.consume(consumed) }
                }
            }
            if received > 0 {
                total += received
                if received < scratch.count { return .drained }
                continue
            }
            if received == 0 { return .closedByPeer }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK { return .drained }
            return .failed(error)
        }
        return .drained
    }

    /// Writes what the socket takes of `output`; `written` adds up the bytes sent.
    @inline(__always)
    func send(_ output: ByteBuffer, written total: inout Int) -> SendEnd {
        while !output.isEmpty {
            let bytes = output.readableBytes
            let written = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if written > 0 {
                output.consume(written)
                total += written
                continue
            }
            let error = errno
            if written < 0 && error == EINTR { continue }
            if written < 0 && (error == EAGAIN || error == EWOULDBLOCK) {
                setWriteEvent(true)
                return .wouldBlock
            }
            return .failed(error)
        }
        setWriteEvent(false)
        return .sent
    }

    /// Whether the loop wakes the owner when the socket can take more.
    func setWriteEvent(_ active: Bool) {
        guard active != writeEventActive, let writeEvent else { return }
        if active { event_add(writeEvent, nil) } else { event_del(writeEvent) }
        writeEventActive = active
    }

    /// Stops (or resumes) waking the owner for input.
    func setReading(_ active: Bool) {
        guard let readEvent else { return }
        if active { event_add(readEvent, nil) } else { event_del(readEvent) }
    }

    /// Frees the events and closes the socket; `input` gives up its memory.
    func close() {
        if let readEvent { event_free(readEvent) }
        if let writeEvent { event_free(writeEvent) }
        readEvent = nil
        writeEvent = nil
        writeEventActive = false
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        input.releaseStorage()
    }
}
