// Putting a multi-server get back together: each server's share arrives in
// its own time; the merge waits for all of them and sends the VALUE blocks in
// the order the client asked for its keys (memcached's order), which clients
// such as memcaslap rely on.

extension ReplyPart {
    /// One server's share finished (values, misses, failover or repair done).
    func mergedPartCompleted() {
        partsPending -= 1
        if partsPending == 0 { assembleMerge() }
        worker.partPool.release(self)  // the share's hold on the merge
    }

    /// Emits every found key's VALUE block in request order, then completes.
    private func assembleMerge() {
        let topology = worker.context.topology
        let keys = request.readableBytes
        var iterator = KeyIterator(keys: ByteRange(start: 0, count: keys.count))
        while let range = iterator.next(in: keys) {
            let key = UnsafeRawBufferPointer(rebasing: keys[range.start..<range.end])
            let route = topology.route(for: key)
            guard let share = mergedParts.first(where: { $0.route == route }),
                  let offset = share.findItem(for: key) else { continue }
            emit(share.item(at: offset))
            share.buffer.markUsed(at: offset)
        }
        for share in mergedParts {
            share.mergeInto = nil
            worker.partPool.release(share)
        }
        mergedParts.removeAll(keepingCapacity: true)
        complete()
    }

    /// Where the first VALUE block for `key` not yet taken starts in this
    /// share's buffer (a taken block has its first byte blanked: 'V' -> '\0').
    private func findItem(for key: UnsafeRawBufferPointer) -> Int? {
        let bytes = buffer.readableBytes
        var offset = 0
        while offset < bytes.count {
            guard let header = Self.itemExtent(bytes, at: offset) else { return nil }
            let itemKey = UnsafeRawBufferPointer(rebasing: bytes[(offset + 6)..<(offset + 6 + header.keyLength)])
            if bytes[offset] != 0 && itemKey.elementsEqual(key) { return offset }
            offset += header.length
        }
        return nil
    }

    /// The whole VALUE block starting at `offset`.
    private func item(at offset: Int) -> UnsafeRawBufferPointer {
        let bytes = buffer.readableBytes
        let length = Self.itemExtent(bytes, at: offset)?.length ?? 0
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
    }

    /// The key length and total length of the VALUE block at `offset`.
    private static func itemExtent(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (keyLength: Int, length: Int)? {
        var lineEnd = offset
        while lineEnd < bytes.count && bytes[lineEnd] != 10 { lineEnd += 1 }
        guard lineEnd < bytes.count, lineEnd - offset > 6 else { return nil }
        let line = UnsafeRawBufferPointer(rebasing: bytes[offset..<lineEnd])
        var keyEnd = 6
        while keyEnd < line.count && line[keyEnd] != 32 { keyEnd += 1 }
        guard let size = BackendReplyParser.field(3, of: UnsafeRawBufferPointer(rebasing: line[0..<(line.count - 1)])) else { return nil }
        return (keyEnd - 6, lineEnd + 1 - offset + size + 2)
    }
}
