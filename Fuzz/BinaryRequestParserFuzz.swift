// libFuzzer target for the binary-protocol request parser: any bytes, split
// anywhere, must never crash it or make it consume past its input; every
// packet it frames has lengths that add up, and keys no text line could hold
// survive the base64 round trip they take to memcached.

@_cdecl("LLVMFuzzerTestOneInput")
public func binaryRequestParserFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let chunk = Int(data[0] % 64) + 1
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    var parser = BinaryRequestParser()
    var buffered: [UInt8] = []
    var fed = 0
    var steps = 0
    while fed < input.count {
        let end = min(input.count, fed + chunk)
        buffered.append(contentsOf: input[fed..<end])
        fed = end
        var progressed = true
        while progressed && !buffered.isEmpty {
            steps += 1
            precondition(steps < 10 * (input.count + 10), "the parser does not make progress")
            let step = buffered.withUnsafeBytes { parser.next($0) }
            let consumed: Int
            switch step {
            case .needMoreData:
                precondition(buffered.count < BinaryHeader.size || BinaryHeader(parsing: buffered.withUnsafeBytes { $0 }).bodyLength
                             + BinaryHeader.size > buffered.count, "waiting with a whole packet in hand")
                consumed = 0
                progressed = false
            case .request(let header, let length):
                precondition(header.magic == BinaryHeader.requestMagic)
                precondition(length == BinaryHeader.size + header.bodyLength && length <= buffered.count)
                precondition(header.keyLength + header.extrasLength <= header.bodyLength && header.valueLength >= 0)
                precondition(header.bodyLength <= BinaryRequestParser.maxBodyLength)
                checkKeyRoundTrip(buffered, header: header)
                consumed = length
            case .tooLarge(let header):
                precondition(header.bodyLength > BinaryRequestParser.maxBodyLength)
                consumed = BinaryHeader.size
            case .discarded(let count):
                precondition(count > 0)
                consumed = count
            case .fatal(let header):
                precondition(header.magic != BinaryHeader.requestMagic || header.keyLength + header.extrasLength > header.bodyLength)
                return 0
            }
            precondition(consumed <= buffered.count, "consumed \(consumed) of \(buffered.count) bytes")
            buffered.removeFirst(consumed)
        }
    }
    return 0
}

/// A key that cannot sit on a line goes base64-encoded; it must come back the same.
private func checkKeyRoundTrip(_ packet: [UInt8], header: BinaryHeader) {
    guard header.keyLength > 0 else { return }
    let start = BinaryHeader.size + header.extrasLength
    packet.withUnsafeBytes { bytes in
        let key = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + header.keyLength)])
        let line = ByteBuffer()
        if KeyToken.append(key, to: line) {
            let decoded = ByteBuffer()
            precondition(Base64.decode(line.readableBytes, into: decoded), "our own base64 does not decode")
            precondition(decoded.readableBytes.elementsEqual(key), "base64 does not round-trip")
        } else {
            precondition(line.readableBytes.elementsEqual(key) && KeyToken.isTextSafe(key))
        }
    }
}
