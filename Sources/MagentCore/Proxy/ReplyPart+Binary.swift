// Meta replies turned into binary-protocol response packets: VA becomes a
// value with its flags (or an 8-byte counter), HD/EN/NF/NS/EX and errors
// become the status codes memcached's binary protocol uses for them.

extension ReplyPart {
    /// A status-only response; quiet requests hear only what is not routine.
    func binaryDeliverStatus(_ status: BinaryStatus, framing: BinaryFraming, cas: UInt64 = 0) {
        let opcode = framing.opcode
        if opcode.isQuiet && (opcode.isRetrieval ? status == .keyNotFound : status == .success) { return }
        let packet = worker.forwarder.packetScratch
        packet.clear()
        if status == .success {
            BinaryResponse.appendHeader(to: packet, opcode: opcode.rawValue, status: .success, opaque: framing.opaque, cas: cas)
        } else if status == .keyNotFound && opcode.returnsKey {
            // getk and gatk misses carry the key instead of a message, as memcached's do.
            BinaryResponse.appendHeader(to: packet, opcode: opcode.rawValue, status: status, opaque: framing.opaque,
                                        keyLength: key.readableCount, bodyLength: key.readableCount)
            packet.append(key.readableBytes)
        } else {
            BinaryResponse.appendStatus(to: packet, opcode: opcode.rawValue, status: status, opaque: framing.opaque)
        }
        emit(packet.readableBytes)
    }

    func binaryDeliverLine(_ line: UnsafeRawBufferPointer, framing: BinaryFraming) {
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
        if status == .success && framing.opcode == .touch {
            // memcached answers a touch with the item's flags and cas.
            let packet = worker.forwarder.packetScratch
            packet.clear()
            BinaryResponse.appendHeader(to: packet, opcode: framing.opcode.rawValue, status: .success, opaque: framing.opaque,
                                        cas: Self.numberToken("c", in: line), extrasLength: 4, bodyLength: 4)
            BinaryResponse.appendUInt32(UInt32(truncatingIfNeeded: Self.numberToken("f", in: line)), to: packet)
            emit(packet.readableBytes)
            return
        }
        binaryDeliverStatus(status, framing: framing, cas: status == .success ? Self.numberToken("c", in: line) : 0)
    }

    /// VA header and value bytes: a get's response streams; a counter's is
    /// collected and sent as 8 bytes.
    func binaryDeliverItem(_ bytes: UnsafeRawBufferPointer, startsItem: Bool, endsItem: Bool, framing: BinaryFraming) {
        let opcode = framing.opcode
        if startsItem {
            let header = MetaValueHeader(bytes)
            binaryValueRemaining = header.size
            binaryCas = header.cas
            guard opcode.isRetrieval else {
                backupReply.clear()
                return
            }
            let packet = worker.forwarder.packetScratch
            packet.clear()
            let keyLength = opcode.returnsKey ? key.readableCount : 0
            BinaryResponse.appendHeader(to: packet, opcode: opcode.rawValue, status: .success, opaque: framing.opaque,
                                        cas: header.cas, keyLength: keyLength, extrasLength: 4,
                                        bodyLength: 4 + keyLength + header.size)
            BinaryResponse.appendUInt32(header.flags, to: packet)
            if keyLength > 0 { packet.append(key.readableBytes) }
            emit(packet.readableBytes)
            return
        }
        let taken = Swift.min(binaryValueRemaining, bytes.count)
        binaryValueRemaining -= taken
        let value = UnsafeRawBufferPointer(rebasing: bytes[0..<taken])
        if opcode.isRetrieval {
            emit(value)
            return
        }
        backupReply.append(value)
        guard endsItem else { return }
        // incr/decr: the new value as a 64-bit big-endian number.
        var number: UInt64 = 0
        for digit in backupReply.readableBytes where digit >= 48 && digit <= 57 {
            number = number &* 10 &+ UInt64(digit - 48)
        }
        backupReply.clear()
        if opcode.isQuiet { return }
        let packet = worker.forwarder.packetScratch
        packet.clear()
        BinaryResponse.appendHeader(to: packet, opcode: opcode.rawValue, status: .success, opaque: framing.opaque,
                                    cas: binaryCas, bodyLength: 8)
        BinaryResponse.appendUInt64(number, to: packet)
        emit(packet.readableBytes)
    }

    /// The number of a returned flag (` c123`, ` f7`) of a meta status line; 0 when absent.
    static func numberToken(_ flag: Unicode.Scalar, in line: UnsafeRawBufferPointer) -> UInt64 {
        var value: UInt64 = 0
        for position in token(after: UInt8(ascii: flag), in: line) {
            value = value &* 10 &+ UInt64(line[position] - 48)
        }
        return value
    }
}
