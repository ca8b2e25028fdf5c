// The reads one client has in flight, by key, while a backup exists: a read
// its primary fails is asked of the backup later, after the client's next
// requests went out. A write of the same key sent meanwhile would reach the
// backup first, and the read would see the write that came after it (or miss
// a key the write deleted). So a later write of a key a read still waits for
// waits too, until that read's reply slot has left.
//
// The keys are kept as the request carried them (one copy of the bytes, no
// per-key work on the read path); a write compares its key with them.

import Glibc

struct ReadsInFlight {
    /// One read's keys in `keys`, and the slot that answers it.
    private struct Span: Equatable {
        var slot: SlotHandle
        var start: Int
        var end: Int
        /// The bytes are one key (meta and binary reads, whose key may hold
        /// spaces), else a text request's keys separated by spaces.
        var isOneKey: Bool
    }

    /// Storage reused from read to read: only the first `keysUsed` bytes
    /// and `spansUsed` spans are live (emptying is resetting the counts).
    private var keys: [UInt8] = []
    private var keysUsed = 0
    /// In the order the reads went out, which is the order their slots
    /// leave: the spans of a leaving slot are at the front (from `head`).
    private var spans: [Span] = []
    private var spansUsed = 0
    private var head = 0

    var isEmpty: Bool { head == spansUsed }

    /// A text read's keys (`get a b c`: "a b c") went out, answered in `slot`.
    mutating func add(keys text: UnsafeRawBufferPointer, slot: SlotHandle) {
        append(text, slot: slot, isOneKey: false)
    }

    /// A read of the one key `key` went out, answered in `slot`.
    mutating func add(key: UnsafeRawBufferPointer, slot: SlotHandle) {
        append(key, slot: slot, isOneKey: true)
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer, slot: SlotHandle, isOneKey: Bool) {
        let start = keysUsed
        let end = start + bytes.count
        if keys.count < end { keys.append(contentsOf: repeatElement(0, count: Swift.max(end - keys.count, 256))) }
        if bytes.count > 0 {
            keys.withUnsafeMutableBytes { storage in _ = memcpy(storage.baseAddress! + start, bytes.baseAddress!, bytes.count) }
        }
        keysUsed = end
        let span = Span(slot: slot, start: start, end: end, isOneKey: isOneKey)
        if spansUsed < spans.count { spans[spansUsed] = span } else { spans.append(span) }
        spansUsed += 1
    }

    /// Whether a read of `key` is still in flight.
    func contains(key: UnsafeRawBufferPointer) -> Bool {
        guard !isEmpty, key.count > 0 else { return false }
        return keys.withUnsafeBytes { stored in
            for index in head..<spansUsed {
                let span = spans[index]
                if span.isOneKey {
                    if Self.equal(stored, span.start, span.end, key) { return true }
                    continue
                }
                var tokenStart = span.start
                var position = span.start
                while position <= span.end {
                    if position == span.end || stored[position] == UInt8(ascii: " ") {
                        if position > tokenStart && Self.equal(stored, tokenStart, position, key) { return true }
                        tokenStart = position + 1
                    }
                    position += 1
                }
            }
            return false
        }
    }

    private static func equal(_ stored: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        end - start == key.count && memcmp(stored.baseAddress! + start, key.baseAddress!, key.count) == 0
    }

    /// `slot` left for the client: its reads are over. Returns whether any
    /// were. Slots leave in the order they were added, so a slot's reads are
    /// at the front, and a slot not at the front has none.
    mutating func slotLeft(_ slot: SlotHandle) -> Bool {
        let before = head
        while head < spansUsed && spans[head].slot == slot { head += 1 }
        let left = head != before
        if head == spansUsed { removeAll() }
        return left
    }

    mutating func removeAll() {
        keysUsed = 0
        spansUsed = 0
        head = 0
    }
}
