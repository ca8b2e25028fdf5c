// A get or gets share sent to memcached as `mg <key> v f [c]` lines: memcached
// answers a run of meta gets with one write, but every classic get with a
// write of its own (a single-key get costs it a sendmsg per request). The client still hears VALUE blocks: each VA is
// turned back into the VALUE line memcached would have sent, each EN is a miss.

extension ReplyPart {
    /// Whether this share can travel as a meta get to a server that answers
    /// them. Only single keys: memcached spends more per key on a run of `mg`
    /// lines than on one multi-key get, which is one write anyway.
    func canSendAsMetaGets(to server: BackendServer) -> Bool {
        (command == .get || command == .gets) && !missFailover && keyCount == 1 && metaSafeKeys
            && server.health.answersMetaGets
    }

    /// Writes one `mg` line per key of `request` into `lines`; the replies
    /// are then matched to the keys in order, starting again at the first.
    func appendMetaGets(to lines: ByteBuffer) {
        let returned: StaticString = command == .gets ? " v f c\r\n" : " v f\r\n"
        let line = request.readableBytes
        var position = command.verb.utf8CodeUnitCount
        while let key = Self.nextKey(in: line, from: &position) {
            lines.append("mg ")
            lines.append(UnsafeRawBufferPointer(rebasing: line[key]))
            lines.append(returned)
        }
        keyCursor = command.verb.utf8CodeUnitCount
        metaKeysLeft = keyCount
    }

    /// `VA <bytes> f<flags>[ c<cas>]` as `VALUE <key> <flags> <bytes>[ <cas>]`,
    /// the key being the one this reply answers.
    func emitValueHeader(translating header: UnsafeRawBufferPointer) {
        let line = request.readableBytes
        var position = keyCursor
        guard let key = Self.nextKey(in: line, from: &position) else { return }
        let scratch = worker.forwarder.headerScratch
        scratch.clear()
        scratch.append("VALUE ")
        scratch.append(UnsafeRawBufferPointer(rebasing: line[key]))
        scratch.append(byte: 32)
        let flags = Self.token(after: UInt8(ascii: "f"), in: header)
        if flags.isEmpty { scratch.append(byte: 48) } else { scratch.append(UnsafeRawBufferPointer(rebasing: header[flags])) }
        scratch.append(byte: 32)
        scratch.append(UnsafeRawBufferPointer(rebasing: header[Self.sizeToken(of: header)]))
        if command == .gets {
            scratch.append(byte: 32)
            scratch.append(UnsafeRawBufferPointer(rebasing: header[Self.token(after: UInt8(ascii: "c"), in: header)]))
        }
        scratch.append("\r\n")
        emit(scratch.readableBytes)
    }

    /// One key's reply is complete (a value, EN, or an error, read as a
    /// miss): the next reply answers the next key; the share is done after the last.
    func metaGetAnswered() {
        let line = request.readableBytes
        _ = Self.nextKey(in: line, from: &keyCursor)
        metaKeysLeft -= 1
        if metaKeysLeft == 0 { complete() }
    }

    /// The next space-separated key of a request line at or after `position`,
    /// which moves past it; nil at the line end.
    static func nextKey(in line: UnsafeRawBufferPointer, from position: inout Int) -> Range<Int>? {
        while position < line.count && line[position] == 32 { position += 1 }
        let start = position
        while position < line.count && line[position] != 32 && line[position] != 13 && line[position] != 10 { position += 1 }
        return position > start ? start..<position : nil
    }

    /// The digits of `VA <bytes> ...`.
    static func sizeToken(of header: UnsafeRawBufferPointer) -> Range<Int> {
        var end = 3
        while end < header.count && header[end] >= 48 && header[end] <= 57 { end += 1 }
        return 3..<end
    }

    /// The digits of a returned flag (` f7`, ` c42`) of a meta reply line; empty when absent.
    static func token(after flag: UInt8, in header: UnsafeRawBufferPointer) -> Range<Int> {
        var index = 0
        while index + 1 < header.count {
            if header[index] == 32 && header[index + 1] == flag {
                var end = index + 2
                while end < header.count && header[end] >= 48 && header[end] <= 57 { end += 1 }
                return (index + 2)..<end
            }
            index += 1
        }
        return 0..<0
    }
}
