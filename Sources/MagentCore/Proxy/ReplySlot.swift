// One place in a client's reply order: the bytes of one request's reply,
// held until every earlier reply has gone out, then streamed. A merge's
// shares each fill a slot of their own, which the merge reads in key order.

final class ReplySlot {
    /// Bumped each time the slot is recycled: a `SlotHandle` made before is stale.
    var generation: UInt32 = 0
    /// The client whose order this slot is in; nil for a merge's share and
    /// once the client is gone. Unowned: a client releases its slots before
    /// it goes away.
    unowned(unsafe) var client: ClientConnection?
    /// A share: the merge job its completion is reported to.
    var merge = JobHandle.detached
    /// Reply bytes held until the slot is at the head of the client's order.
    let buffer = ByteBuffer()
    private(set) var isComplete = false
    /// At the head of the client's order: bytes go straight to its output.
    var isStreaming = false
    /// Some of the reply already left for the client: it can no longer be
    /// answered afresh (by another server).
    private(set) var emitted = false
    /// quit, or an error after which the stream cannot continue: the client
    /// closes once this slot is written.
    var closesConnection = false
    /// A VALUE block began and has not ended; it began at `itemStart` in `buffer`.
    private(set) var itemOpen = false
    private var itemStart = 0
    private var itemKeyLength = 0
    /// A share's VALUE blocks as they arrived, for the merge.
    private(set) var items: [ItemExtent] = []
    /// Where the merge looks for the next key's block first.
    var mergeCursor = 0
    /// The last slot of a client request's reply: when the request was parsed
    /// (monotonic nanoseconds; 0 for any other slot) and its command family,
    /// recorded in the latency histogram once the slot is queued for the client.
    var requestStart: UInt64 = 0
    var requestFamily = RequestFamily.other

    /// Where one VALUE block lies in `buffer`.
    struct ItemExtent {
        var start: Int
        var keyLength: Int
        var length: Int
        /// The merge has taken it.
        var taken = false
    }

    /// Back to the state of a fresh slot, keeping buffer capacity.
    func reset() {
        generation &+= 1
        client = nil
        merge = .detached
        buffer.clear()
        if buffer.capacity > 64 * 1024 { buffer.releaseStorage() }
        isComplete = false
        isStreaming = false
        emitted = false
        closesConnection = false
        itemOpen = false
        itemStart = 0
        itemKeyLength = 0
        if !items.isEmpty { items.removeAll(keepingCapacity: true) }  // merge shares only
        mergeCursor = 0
        requestStart = 0
    }

    /// Reply bytes: to the client when at the head of its order, else kept.
    func append(_ bytes: UnsafeRawBufferPointer) {
        if isStreaming, let client {
            client.appendToOutput(bytes)
            emitted = true
            client.markOutputPending()
        } else {
            buffer.append(bytes)
        }
    }

    func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// The slot reached the head of its client's order: what it holds goes out.
    func startStreaming(into client: ClientConnection) {
        guard !isStreaming else { return }
        if !buffer.isEmpty {
            client.appendToOutput(buffer.readableBytes)
            buffer.clear()
            emitted = true
        }
        isStreaming = true
    }

    /// A VALUE block (its line is appended next) whose key is `keyLength` bytes.
    func beginItem(keyLength: Int) {
        itemOpen = true
        itemStart = buffer.readableCount
        itemKeyLength = keyLength
    }

    func endItem() {
        guard itemOpen else { return }
        itemOpen = false
        if merge != .detached {
            items.append(ItemExtent(start: itemStart, keyLength: itemKeyLength, length: buffer.readableCount - itemStart))
        }
    }

    /// A value cut off in the middle: if part of it already left, the
    /// client's stream is broken (it is aborted); otherwise the partial value
    /// is taken out of `buffer`.
    func dropOpenItem() {
        guard itemOpen else { return }
        itemOpen = false
        if isStreaming { client?.abort() } else { buffer.truncate(toReadable: itemStart) }
    }

    /// Drops what the reply holds so far (nothing of it left yet).
    func restart() {
        buffer.clear()
        itemOpen = false
        if !items.isEmpty { items.removeAll(keepingCapacity: true) }
    }

    func markComplete() { isComplete = true }

    /// The first block for `key` not yet taken, searched from `mergeCursor`
    /// (the server answers in request order) and wrapping around for blocks
    /// that came out of order (read repair). Marks it taken.
    func takeItem(for key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let bytes = buffer.readableBytes
        let count = items.count
        guard count > 0 else { return nil }
        var index = mergeCursor
        for _ in 0..<count {
            if index >= count { index = 0 }
            let item = items[index]
            if !item.taken && item.keyLength == key.count
                && bytes[ByteRange(start: item.start + 6, count: item.keyLength)].elementsEqual(key) {
                items[index].taken = true
                mergeCursor = index + 1
                return bytes[ByteRange(start: item.start, count: item.length)]
            }
            index += 1
        }
        return nil
    }
}
