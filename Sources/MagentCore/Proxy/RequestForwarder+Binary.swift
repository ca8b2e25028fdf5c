// Binary-protocol requests, translated into the meta commands that mean the
// same, so they take the same routing, replication, failover and repair as
// every other request; what the proxy answers itself (noop, version, stat,
// quit, bad packets) is framed here.
import Glibc

extension RequestForwarder {
    func forwardBinary(_ header: BinaryHeader, packet: UnsafeRawBufferPointer, client: ClientConnection) {
        worker.counters.add(.binaryRequests)
        guard let opcode = BinaryOpcode(rawValue: header.opcode) else {
            replyBinary(.unknownCommand, opcode: header.opcode, opaque: header.opaque, client: client)
            return
        }
        let framing = BinaryFraming(opcode: opcode, opaque: header.opaque)
        let extrasStart = BinaryHeader.size
        let keyStart = extrasStart + header.extrasLength
        let valueStart = keyStart + header.keyLength
        let extras = UnsafeRawBufferPointer(rebasing: packet[extrasStart..<keyStart])
        let key = UnsafeRawBufferPointer(rebasing: packet[keyStart..<valueStart])
        let value = UnsafeRawBufferPointer(rebasing: packet[valueStart...])

        /// The shape memcached requires of each request: extras, key, value.
        func shaped(extras extrasLength: Int, key keyRequired: Bool, value valueAllowed: Bool) -> Bool {
            let valid = extras.count == extrasLength
                && (keyRequired ? key.count > 0 && key.count <= ProtocolLimits.maxKeyLength : key.isEmpty)
                && (valueAllowed || value.isEmpty)
            if !valid {
                // memcached answers and closes: the stream is not to be trusted.
                replyBinary(.invalidArguments, opcode: header.opcode, opaque: header.opaque, client: client)
                client.closeAfterReplies()
            }
            return valid
        }

        var flags = MetaFlags()
        metaLine.clear()
        func send(_ command: Command, inlineValue: UnsafeRawBufferPointer?) {
            if flags.base64 { metaLine.append(" b") }
            dispatchMeta(command, flags: flags, key: key, line: metaLine.readableBytes, inlineValue: inlineValue,
                         framing: .binary(framing), client: client)
        }
        switch opcode {
        case .get, .getq, .getk, .getkq:
            guard shaped(extras: 0, key: true, value: false) else { return }
            beginMetaLine("mg ", key: key, flags: &flags)
            metaLine.append(" f v c")
            send(.metaGet, inlineValue: nil)

        case .gat, .gatq, .gatk, .gatkq, .touch:
            guard shaped(extras: 4, key: true, value: false) else { return }
            beginMetaLine("mg ", key: key, flags: &flags)
            metaLine.append(" T")
            metaLine.appendDecimal(Int(BinaryHeader.uint32(extras, at: 0)))
            metaLine.append(opcode == .touch ? " f c" : " f v c")
            flags.updatesTTL = true
            send(.metaGet, inlineValue: nil)

        case .set, .setq, .add, .addq, .replace, .replaceq, .append, .appendq, .prepend, .prependq:
            let isConcatenation = opcode == .append || opcode == .appendq || opcode == .prepend || opcode == .prependq
            guard shaped(extras: isConcatenation ? 0 : 8, key: true, value: true) else { return }
            beginMetaLine("ms ", key: key, flags: &flags)
            metaLine.append(byte: 32)
            metaLine.appendDecimal(value.count)
            if !isConcatenation {
                metaLine.append(" F")
                metaLine.appendDecimal(Int(BinaryHeader.uint32(extras, at: 0)))
                metaLine.append(" T")
                metaLine.appendDecimal(Int(BinaryHeader.uint32(extras, at: 4)))
            }
            metaLine.append(" c")
            appendCompareCas(header.cas, flags: &flags)
            let mode: StaticString?
            switch opcode {
            case .add, .addq: mode = " ME"
            case .replace, .replaceq: mode = " MR"
            case .append, .appendq: mode = " MA"
            case .prepend, .prependq: mode = " MP"
            default: mode = nil
            }
            if let mode {
                metaLine.append(mode)
                flags.mode = mode.utf8Start[2]
            }
            send(.metaSet, inlineValue: value)

        case .delete, .deleteq:
            guard shaped(extras: 0, key: true, value: false) else { return }
            beginMetaLine("md ", key: key, flags: &flags)
            appendCompareCas(header.cas, flags: &flags)
            send(.metaDelete, inlineValue: nil)

        case .increment, .incrementq, .decrement, .decrementq:
            guard shaped(extras: 20, key: true, value: false) else { return }
            beginMetaLine("ma ", key: key, flags: &flags)
            metaLine.append(" D")
            metaLine.appendDecimal(UInt64: BinaryHeader.uint64(extras, at: 0))
            let expiration = BinaryHeader.uint32(extras, at: 16)
            if expiration != 0xffff_ffff {
                // Created with the initial value on a miss, as memcached does.
                metaLine.append(" N")
                metaLine.appendDecimal(Int(expiration))
                metaLine.append(" J")
                metaLine.appendDecimal(UInt64: BinaryHeader.uint64(extras, at: 8))
                flags.vivify = true
            }
            if opcode == .decrement || opcode == .decrementq {
                metaLine.append(" MD")
                flags.mode = UInt8(ascii: "D")
            }
            metaLine.append(" v c")
            appendCompareCas(header.cas, flags: &flags)
            send(.metaArithmetic, inlineValue: nil)

        case .flush, .flushq:
            guard shaped(extras: extras.count == 4 ? 4 : 0, key: false, value: false) else { return }
            if worker.settings.flushAll == .refuse {
                // Quiet or not, an error is answered.
                replyBinary(.notSupported, opcode: header.opcode, opaque: header.opaque, client: client,
                            message: FlushAllMode.refusalMessage)
                return
            }
            metaLine.append("flush_all")
            let delay = extras.count == 4 ? Int(BinaryHeader.uint32(extras, at: 0)) : 0
            if extras.count == 4 {
                metaLine.append(byte: 32)
                metaLine.appendDecimal(delay)
            }
            broadcastBinary(metaLine.readableBytes, framing: framing, client: client, flushDelay: delay)

        case .verbosity:
            guard shaped(extras: 4, key: false, value: false) else { return }
            metaLine.append("verbosity ")
            metaLine.appendDecimal(Int(BinaryHeader.uint32(extras, at: 0)))
            broadcastBinary(metaLine.readableBytes, framing: framing, client: client, flushDelay: nil)

        case .noop:
            replyBinary(.success, opcode: header.opcode, opaque: header.opaque, client: client)

        case .version:
            packetScratch.clear()
            var version = MagentVersion.protocolVersion
            version.withUTF8 {
                BinaryResponse.appendValue(to: packetScratch, opcode: header.opcode, opaque: header.opaque, value: UnsafeRawBufferPointer($0))
            }
            client.reply(packetScratch.readableBytes)

        case .stat:
            replyBinaryStats(group: key, header: header, client: client)

        case .quit, .quitq:
            if opcode == .quit { replyBinary(.success, opcode: header.opcode, opaque: header.opaque, client: client) }
            client.closeAfterReplies()
        }
    }

    /// "<verb><key>"; a key that had to be base64-encoded gets its `b` flag
    /// at the end of the line (`send`).
    private func beginMetaLine(_ verb: StaticString, key: UnsafeRawBufferPointer, flags: inout MetaFlags) {
        metaLine.append(verb)
        flags.base64 = KeyToken.append(key, to: metaLine)
    }

    /// A non-zero CAS in the header makes the request conditional.
    private func appendCompareCas(_ cas: UInt64, flags: inout MetaFlags) {
        guard cas != 0 else { return }
        metaLine.append(" C")
        metaLine.appendDecimal(UInt64: cas)
        flags.compareCas = true
    }

    /// flush and verbosity, as their text lines, to every distinct server;
    /// `flushDelay` (seconds) makes it a flush.
    private func broadcastBinary(_ line: UnsafeRawBufferPointer, framing: BinaryFraming, client: ClientConnection, flushDelay: Int?) {
        let (handle, record) = worker.executor.newJob(.broadcast, slot: worker.executor.newSlot(for: client))
        record.framing = .binary(framing)
        record.request.append(line)
        record.request.append("\r\n")
        if let flushDelay {
            record.command = .flushAll
            record.flushDeadline = MissedFlush.deadline(delay: Int64(flushDelay), now: Int(time(nil)))
        } else {
            record.command = .verbosity
        }
        startBroadcast(handle, record: record, client: client)
    }

    /// A status-only packet made by the proxy, in the client's reply order.
    func replyBinary(_ status: BinaryStatus, opcode: UInt8, opaque: UInt32, client: ClientConnection, message: StaticString? = nil) {
        packetScratch.clear()
        BinaryResponse.appendStatus(to: packetScratch, opcode: opcode, status: status, opaque: opaque, message: message)
        client.reply(packetScratch.readableBytes)
    }

    /// stat: the `stats proxy` lines (no group, or "proxy") or the `stats
    /// servers` lines ("servers"), each as a key/value packet, then the empty
    /// packet that ends the list. Other groups are answered "Not found".
    private func replyBinaryStats(group: UnsafeRawBufferPointer, header: BinaryHeader, client: ClientConnection) {
        var text: String
        if group.isEmpty || group.elementsEqual("proxy".utf8) {
            text = ProxyStatsBlock.render(context: worker.context)
        } else if group.elementsEqual("servers".utf8) {
            text = ServerStatsBlock.render(context: worker.context)
        } else {
            replyBinary(.keyNotFound, opcode: header.opcode, opaque: header.opaque, client: client)
            return
        }
        packetScratch.clear()
        text.withUTF8 { block in
            let lines = UnsafeRawBufferPointer(block)
            var start = 0
            while start < lines.count {
                var end = start
                while end < lines.count && lines[end] != 13 { end += 1 }
                let line = UnsafeRawBufferPointer(rebasing: lines[start..<end])
                start = end + 2
                guard line.starts(with: "STAT ") else { continue }
                var nameEnd = 5
                while nameEnd < line.count && line[nameEnd] != 32 { nameEnd += 1 }
                let name = UnsafeRawBufferPointer(rebasing: line[5..<nameEnd])
                let value = UnsafeRawBufferPointer(rebasing: line[Swift.min(nameEnd + 1, line.count)...])
                BinaryResponse.appendValue(to: packetScratch, opcode: header.opcode, opaque: header.opaque, key: name, value: value)
            }
        }
        BinaryResponse.appendHeader(to: packetScratch, opcode: header.opcode, status: .success, opaque: header.opaque)
        client.reply(packetScratch.readableBytes)
    }
}
