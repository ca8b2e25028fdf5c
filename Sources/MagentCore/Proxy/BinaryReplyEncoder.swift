// Meta replies turned into binary-protocol response packets: VA becomes a
// value with its flags (or an 8-byte counter), HD/EN/NF/NS/EX and errors
// become the status codes memcached's binary protocol uses for them.

enum BinaryReplyEncoder {
    /// A status-only response; quiet requests hear only what is not routine.
    static func status(_ status: BinaryStatus, framing: BinaryFraming, key: UnsafeRawBufferPointer, cas: UInt64 = 0,
                       packet: ByteBuffer, into slot: ReplySlot) {
        let opcode = framing.opcode
        if opcode.isQuiet && (opcode.isRetrieval ? status == .keyNotFound : status == .success) { return }
        packet.clear()
        if status == .success {
            BinaryResponse.appendHeader(to: packet, opcode: opcode.rawValue, status: .success, opaque: framing.opaque, cas: cas)
        } else if status == .keyNotFound && opcode.returnsKey {
            // getk and gatk misses carry the key instead of a message, as memcached's do.
            BinaryResponse.appendHeader(to: packet, opcode: opcode.rawValue, status: status, opaque: framing.opaque,
                                        keyLength: key.count, bodyLength: key.count)
            packet.append(key)
        } else {
            BinaryResponse.appendStatus(to: packet, opcode: opcode.rawValue, status: status, opaque: framing.opaque)
        }
        slot.append(packet.readableBytes)
    }

    /// A meta status line (HD, EN, NS, ... or an error) as its status packet.
    static func line(_ line: UnsafeRawBufferPointer, framing: BinaryFraming, key: UnsafeRawBufferPointer,
                     packet: ByteBuffer, into slot: ReplySlot) {
        let status: BinaryStatus
        if line.starts(with: "HD") {
            status = .success
        } else if line.starts(with: "EN") || line.starts(with: "NF") {
            status = .keyNotFound
        } else if line.starts(with: "EX") {
            status = .keyExists
        } else if line.starts(with: "NS") {
            switch framing.opcode {
            case .add, .addq: status = .keyExists
            case .replace, .replaceq: status = .keyNotFound
            default: status = .itemNotStored
            }
        } else if line.starts(with: "CLIENT_ERROR cannot increment or decrement") {
            status = .nonNumericValue
        } else if line.starts(with: "SERVER_ERROR object too large") {
            status = .valueTooLarge
        } else if line.starts(with: "SERVER_ERROR out of memory") {
            status = .outOfMemory
        } else if line.starts(with: "CLIENT_ERROR") {
            status = .invalidArguments
        } else if line.starts(with: "ERROR") {
            status = .unknownCommand
        } else {
            status = .temporaryFailure
        }
        let cas = status == .success ? flagNumber("c", in: line) : 0
        if status == .success && framing.opcode == .touch {
            // memcached answers a touch with the item's flags and cas.
            packet.clear()
            BinaryResponse.appendHeader(to: packet, opcode: framing.opcode.rawValue, status: .success, opaque: framing.opaque,
                                        cas: cas, extrasLength: 4, bodyLength: 4)
            BinaryResponse.appendUInt32(UInt32(truncatingIfNeeded: flagNumber("f", in: line)), to: packet)
            slot.append(packet.readableBytes)
            return
        }
        self.status(status, framing: framing, key: key, cas: cas, packet: packet, into: slot)
    }

    /// VA header and value bytes: a get's response streams; a counter's is
    /// collected (in the record's `keptReply`) and sent as 8 bytes.
    static func item(_ bytes: UnsafeRawBufferPointer, startsItem: Bool, endsItem: Bool, framing: BinaryFraming,
                     record: JobRecord, packet: ByteBuffer, into slot: ReplySlot) {
        let opcode = framing.opcode
        if startsItem {
            let header = MetaValueHeader(bytes)
            record.binaryValueRemaining = header.size
            record.binaryCas = header.cas
            guard opcode.isRetrieval else {
                record.keptReply.clear()
                return
            }
            packet.clear()
            let keyLength = opcode.returnsKey ? record.key.readableCount : 0
            BinaryResponse.appendHeader(to: packet, opcode: opcode.rawValue, status: .success, opaque: framing.opaque,
                                        cas: header.cas, keyLength: keyLength, extrasLength: 4,
                                        bodyLength: 4 + keyLength + header.size)
            BinaryResponse.appendUInt32(header.flags, to: packet)
            if keyLength > 0 { packet.append(record.key.readableBytes) }
            slot.append(packet.readableBytes)
            return
        }
        let taken = Swift.min(record.binaryValueRemaining, bytes.count)
        record.binaryValueRemaining -= taken
        let value = bytes[ByteRange(start: 0, count: taken)]
        if opcode.isRetrieval {
            slot.append(value)
            return
        }
        record.keptReply.append(value)
        guard endsItem else { return }
        // incr/decr: the new value as a 64-bit big-endian number.
        var number: UInt64 = 0
        for digit in record.keptReply.readableBytes where digit >= 48 && digit <= 57 {
            number = number &* 10 &+ UInt64(digit - 48)
        }
        record.keptReply.clear()
        if opcode.isQuiet { return }
        packet.clear()
        BinaryResponse.appendHeader(to: packet, opcode: opcode.rawValue, status: .success, opaque: framing.opaque,
                                    cas: record.binaryCas, bodyLength: 8)
        BinaryResponse.appendUInt64(number, to: packet)
        slot.append(packet.readableBytes)
    }

    /// The number of a returned flag (` c123`, ` f7`) of a meta status line; 0 when absent.
    private static func flagNumber(_ flag: Unicode.Scalar, in line: UnsafeRawBufferPointer) -> UInt64 {
        guard let digits = LineTokens.flag(UInt8(ascii: flag), in: line) else { return 0 }
        return LineTokens.decimal(line, digits) ?? 0
    }
}
