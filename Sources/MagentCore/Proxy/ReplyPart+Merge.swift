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
        let keys = request.readableBytes
        var iterator = KeyIterator(keys: ByteRange(start: 0, count: keys.count))
        var index = 0
        while let range = iterator.next(in: keys) {
            let key = UnsafeRawBufferPointer(rebasing: keys[range.start..<range.end])
            let share = mergedParts[Int(mergeKeyShares[index])]
            index += 1
            guard let (offset, length) = share.findItem(for: key) else { continue }
            emit(UnsafeRawBufferPointer(rebasing: share.buffer.readableBytes[offset..<(offset + length)]))
            share.buffer.markUsed(at: offset)
        }
        for share in mergedParts {
            share.mergeInto = nil
            worker.partPool.release(share)
        }
        mergedParts.removeAll(keepingCapacity: true)
        complete()
    }

    /// Where the first VALUE block for `key` not yet taken lies in this share's
    /// buffer (a taken block has its first byte blanked: 'V' -> '\0'). The
    /// search starts at `mergeCursor`, where the next key's block usually is,
    /// and wraps around for blocks that came out of order (read repair).
    private func findItem(for key: UnsafeRawBufferPointer) -> (offset: Int, length: Int)? {
        let bytes = buffer.readableBytes
        var offset = mergeCursor
        var wrapped = false
        while true {
            if offset >= bytes.count || (wrapped && offset >= mergeCursor) {
                guard !wrapped, mergeCursor > 0 else { return nil }
                wrapped = true
                offset = 0
                continue
            }
            guard let header = Self.itemExtent(bytes, at: offset) else { return nil }
            let itemKey = UnsafeRawBufferPointer(rebasing: bytes[(offset + 6)..<(offset + 6 + header.keyLength)])
            if bytes[offset] != 0 && itemKey.elementsEqual(key) {
                mergeCursor = offset + header.length
                return (offset, header.length)
            }
            offset += header.length
        }
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
