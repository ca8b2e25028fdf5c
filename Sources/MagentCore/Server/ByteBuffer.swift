// A growable byte buffer with a read and a write position: connection input,
// connection output and per-request reply bytes all live in one of these.
import Glibc

/// Owns one malloc'ed region that is reused for the life of its owner, so the
/// request path appends and consumes without allocating once it has warmed up.
public final class ByteBuffer {
    private(set) var storage: UnsafeMutableRawPointer?
    private(set) var capacity: Int = 0
    private(set) var readIndex: Int = 0
    private(set) var writeIndex: Int = 0

    public init(capacity: Int = 0) {
        if capacity > 0 { grow(to: capacity) }
    }

    deinit { free(storage) }

    public var readableCount: Int { writeIndex - readIndex }
    public var isEmpty: Bool { writeIndex == readIndex }

    /// The bytes not yet consumed. Valid until the next mutation.
    public var readableBytes: UnsafeRawBufferPointer {
        guard let storage else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: storage + readIndex, count: writeIndex - readIndex)
    }

    /// Makes room for at least `count` more bytes after the write position,
    /// moving unread bytes to the front before growing.
    public func reserveWritable(_ count: Int) {
        if writeIndex + count <= capacity { return }
        if readIndex > 0 {
            let unread = writeIndex - readIndex
            if unread > 0 { memmove(storage!, storage! + readIndex, unread) }
            readIndex = 0
            writeIndex = unread
            if writeIndex + count <= capacity { return }
        }
        var newCapacity = Swift.max(capacity, 256)
        while newCapacity < writeIndex + count { newCapacity &*= 2 }
        grow(to: newCapacity)
    }

    private func grow(to newCapacity: Int) {
        guard let grown = realloc(storage, newCapacity) else { fatalError("out of memory growing a buffer to \(newCapacity) bytes") }
        storage = grown
        capacity = newCapacity
    }

    /// Free space after the write position; call `reserveWritable` first.
    public var writableTail: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage.map { $0 + writeIndex }, count: capacity - writeIndex)
    }

    /// Records that `count` bytes were written into `writableTail`.
    public func commitWritten(_ count: Int) { writeIndex += count }

    public func consume(_ count: Int) {
        readIndex += count
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    public func clear() { readIndex = 0; writeIndex = 0 }

    func setWriteIndex(_ index: Int) {
        writeIndex = index
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    /// Gives the memory back (idle connections keep no buffers).
    public func releaseStorage() {
        free(storage)
        storage = nil
        capacity = 0
        readIndex = 0
        writeIndex = 0
    }

    /// Hands the (empty) storage over to a `SpareBufferStorage`; the buffer keeps none.
    func surrenderStorage() -> (pointer: UnsafeMutableRawPointer, capacity: Int)? {
        guard isEmpty, let storage else { return nil }
        let region = (pointer: storage, capacity: capacity)
        self.storage = nil
        capacity = 0
        readIndex = 0
        writeIndex = 0
        return region
    }

    /// Takes over a region given up by `surrenderStorage` (only when it has none).
    func adoptStorage(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
        precondition(storage == nil)
        storage = pointer
        self.capacity = capacity
        readIndex = 0
        writeIndex = 0
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserveWritable(bytes.count)
        (storage! + writeIndex).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        writeIndex += bytes.count
    }

    public func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    public func append(byte: UInt8) {
        reserveWritable(1)
        storage!.storeBytes(of: byte, toByteOffset: writeIndex, as: UInt8.self)
        writeIndex += 1
    }

    /// Appends `count` zero bytes (used to pad an abandoned value to its declared length).
    public func appendZeros(_ count: Int) {
        guard count > 0 else { return }
        reserveWritable(count)
        memset(storage! + writeIndex, 0, count)
        writeIndex += count
    }

    /// Appends the unread bytes of `other` without consuming them.
    public func append(contentsOf other: ByteBuffer) { append(other.readableBytes) }

    /// Appends `value` in decimal without building a String.
    public func appendDecimal(UInt64 value: UInt64) {
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[count] = UInt8(48 + rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            for index in stride(from: count - 1, through: 0, by: -1) { append(byte: raw[index]) }
        }
    }

    public func appendDecimal(_ value: Int) {
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[23 - count] = UInt8(truncatingIfNeeded: 48 &+ magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            if value < 0 { append(byte: 45) }
            append(UnsafeRawBufferPointer(rebasing: raw[(24 - count)...]))
        }
    }

    /// The unread bytes as a String, for logs and tests only.
    public var debugText: String { String(decoding: readableBytes, as: UTF8.self) }
}

extension ByteBuffer {
    /// Drops unread bytes past the first `count` (undoes a partial append).
    public func truncate(toReadable count: Int) {
        precondition(count <= readableCount)
        setWriteIndex(readIndex + count)
    }
}

extension ByteBuffer {
    /// Overwrites the unread byte at `offset` with 0 (marks a block as taken).
    func markUsed(at offset: Int) {
        precondition(offset < readableCount)
        storage!.storeBytes(of: 0 as UInt8, toByteOffset: readIndex + offset, as: UInt8.self)
    }
}
