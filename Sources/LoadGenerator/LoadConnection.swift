// One client connection of the load generator: sends requests, keeps the
// order they were sent in, and checks every reply against the key space.
import CEventShim
import CLibEvent
import Glibc
import MagentCore

final class LoadConnection {
    enum Kind: UInt8 { case get, set }

    /// A request sent and not yet answered.
    struct Expectation {
        var kind: Kind
        /// For a get: the first key and how many follow (key, key+stride, ...).
        var firstKey: Int
        var keyCount: Int
        var stride: Int
        /// When it was sent (or scheduled to be, at a fixed rate), in nanoseconds.
        var startedAt: UInt64
    }

    unowned let generator: LoadGenerator
    let fd: Int32
    var readEvent: OpaquePointer?
    var writeEvent: OpaquePointer?
    let output = ByteBuffer(capacity: 4096)
    let input = ByteBuffer(capacity: 16 * 1024)
    var outstanding = RingBuffer<Expectation>(initialCapacity: 64)
    /// VALUE blocks of the oldest get seen so far.
    private var valuesSeen = 0

    init(generator: LoadGenerator, fd: Int32) {
        self.generator = generator
        self.fd = fd
    }

    func start(base: OpaquePointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        readEvent = event_new(base, fd, Int16(EV_READ | EV_PERSIST), { _, _, context in
            let connection = Unmanaged<LoadConnection>.fromOpaque(context!).takeUnretainedValue()
            connection.readReplies()
        }, context)
        writeEvent = event_new(base, fd, Int16(EV_WRITE), { _, _, context in
            Unmanaged<LoadConnection>.fromOpaque(context!).takeUnretainedValue().flush()
        }, context)
        event_add(readEvent, nil)
    }

    func send(_ request: [UInt8], expecting expectation: Expectation) {
        request.withUnsafeBytes { output.append($0) }
        outstanding.append(expectation)
    }

    func sendGet(keys: KeySpace, first: Int, count: Int, stride: Int, startedAt: UInt64) {
        output.append("get")
        for offset in 0..<count {
            output.append(byte: 32)
            keys.keys[(first + offset * stride) % keys.keys.count].withUnsafeBytes { output.append($0) }
        }
        output.append("\r\n")
        outstanding.append(Expectation(kind: .get, firstKey: first, keyCount: count, stride: stride, startedAt: startedAt))
    }

    func flush() {
        while !output.isEmpty {
            let bytes = output.readableBytes
            let written = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if written > 0 {
                output.consume(written)
            } else if written < 0 && (errno == EAGAIN || errno == EINTR) {
                event_add(writeEvent, nil)
                return
            } else {
                generator.fail("send failed: \(String(cString: strerror(errno)))")
                return
            }
        }
    }

    private func readReplies() {
        input.reserveWritable(64 * 1024)
        let tail = input.writableTail
        let received = recv(fd, tail.baseAddress, tail.count, 0)
        if received <= 0 {
            if received < 0 && (errno == EAGAIN || errno == EINTR) { return }
            generator.fail(received == 0 ? "the server closed a connection" : "recv failed: \(String(cString: strerror(errno)))")
            return
        }
        input.commitWritten(received)
        let consumed = check(input.readableBytes)
        input.consume(consumed)
        generator.repliesChecked(on: self)
    }

    /// Checks complete replies; returns the bytes they took.
    private func check(_ bytes: UnsafeRawBufferPointer) -> Int {
        let keys = generator.keySpace
        var offset = 0
        while let head = outstanding.first {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            switch head.kind {
            case .set:
                guard rest.count >= 8 else { return offset }
                guard rest.starts(with: "STORED\r\n") else { return mismatch(rest, "STORED") }
                offset += 8
            case .get:
                if rest.count >= 5 && rest.starts(with: "END\r\n") {
                    guard valuesSeen == head.keyCount else {
                        return mismatch(rest, "\(head.keyCount) values before END, got \(valuesSeen)")
                    }
                    valuesSeen = 0
                    offset += 5
                    break
                }
                guard rest.count >= 6 else { return offset }
                guard rest.starts(with: "VALUE key:") else { return mismatch(rest, "VALUE or END") }
                var index = 0
                var position = 10
                while position < rest.count && rest[position] >= 48 && rest[position] <= 57 {
                    index = index * 10 + Int(rest[position] - 48)
                    position += 1
                }
                guard position < rest.count else { return offset }
                guard index < keys.valueBlocks.count else { return mismatch(rest, "a known key") }
                let block = keys.valueBlocks[index]
                guard rest.count >= block.count else { return offset }
                let same = block.withUnsafeBytes { memcmp($0.baseAddress!, rest.baseAddress!, block.count) == 0 }
                guard same else { return mismatch(rest, "the value of key:\(index)") }
                valuesSeen += 1
                offset += block.count
                continue
            }
            outstanding.popFirst()
            generator.completed(head)
        }
        if offset < bytes.count { return mismatch(UnsafeRawBufferPointer(rebasing: bytes[offset...]), "nothing (no request outstanding)") }
        return offset
    }

    private func mismatch(_ bytes: UnsafeRawBufferPointer, _ expected: String) -> Int {
        let shown = String(decoding: bytes.prefix(60), as: UTF8.self).replacingCRLF()
        generator.fail("wrong reply: expected \(expected), got \"\(shown)\"")
        return bytes.count
    }
}

extension UnsafeRawBufferPointer {
    func starts(with text: StaticString) -> Bool {
        count >= text.utf8CodeUnitCount && memcmp(baseAddress!, text.utf8Start, text.utf8CodeUnitCount) == 0
    }
}

extension String {
    func replacingCRLF() -> String {
        var result = ""
        for character in self {
            switch character {
            case "\r\n": result += "\\r\\n"
            case "\r": result += "\\r"
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }
}
