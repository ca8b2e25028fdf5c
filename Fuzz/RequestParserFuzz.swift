// libFuzzer target for the client request parser: any bytes, split anywhere,
// must never crash it, make it consume past its input or stall, or yield a
// request whose keys break memcached's rules.

@_cdecl("LLVMFuzzerTestOneInput")
public func requestParserFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    // The first byte picks the read size, so splits are fuzzed too.
    let chunk = Int(data[0] % 64) + 1
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    var parser = RequestParser(allowControlKeys: data[0] & 0x80 != 0)
    var buffered: [UInt8] = []
    var fed = 0
    var steps = 0
    while fed < input.count || !buffered.isEmpty {
        if fed < input.count {
            let end = min(input.count, fed + chunk)
            buffered.append(contentsOf: input[fed..<end])
            fed = end
        }
        var progressed = true
        while progressed && !buffered.isEmpty {
            steps += 1
            precondition(steps < 10 * (input.count + 10), "the parser does not make progress")
            let step = buffered.withUnsafeBytes { parser.next($0) }
            let consumed: Int
            switch step {
            case .needMoreData:
                consumed = 0
                progressed = false
            case .request(let request):
                consumed = request.lineLength
                buffered.withUnsafeBytes { bytes in checkRequest(request, in: bytes) }
            case .data(let count, _), .discarded(let count):
                precondition(count > 0, "an empty data step")
                consumed = count
            case .invalid(_, let count):
                precondition(count > 0, "an invalid line of no bytes")
                consumed = count
            case .fatal:
                return 0
            }
            precondition(consumed <= buffered.count, "consumed \(consumed) of \(buffered.count) bytes")
            buffered.removeFirst(consumed)
        }
        if fed >= input.count && !progressed { break }
    }
    return 0
}

private func checkRequest(_ request: ParsedRequest, in bytes: UnsafeRawBufferPointer) {
    precondition(request.lineLength > 0 && request.lineLength <= bytes.count)
    precondition(bytes[request.lineLength - 1] == 10, "a request line must end in \\n")
    for range in [request.key, request.keys, request.argument, request.forward] {
        precondition(range.start >= 0 && range.end <= request.lineLength, "a range outside the line")
    }
    if request.command.isRetrieval {
        var keys = LineTokens(range: request.keys)
        var count = 0
        while let key = keys.next(in: bytes) {
            precondition(key.count > 0 && key.count <= ProtocolLimits.maxKeyLength, "a key of \(key.count) bytes")
            count += 1
        }
        precondition(count > 0, "a retrieval without keys")
    } else if request.command.isKeyedWrite {
        precondition(request.key.count > 0 && request.key.count <= ProtocolLimits.maxKeyLength)
    } else if request.command.isMeta && request.command != .metaNoop {
        precondition(request.key.count > 0 && request.key.count <= ProtocolLimits.maxKeyLength, "a meta key of \(request.key.count) bytes")
        if request.meta.base64 {
            // The parser let a b key through: it must decode, to a key the proxy can place.
            let decoded = ByteBuffer()
            let key = UnsafeRawBufferPointer(rebasing: bytes[request.key.start..<request.key.end])
            precondition(Base64.decode(key, into: decoded) && !decoded.isEmpty, "an undecodable b key passed")
            // (Text with stray low bits, such as "YWJ=", decodes as memcached's
            // decoder takes it; re-encoding gives the canonical form.)
            let again = ByteBuffer()
            Base64.encode(decoded.readableBytes, into: again)
            let twice = ByteBuffer()
            precondition(Base64.decode(again.readableBytes, into: twice) && twice.readableBytes.elementsEqual(decoded.readableBytes),
                         "base64 does not round-trip")
        }
    }
}
