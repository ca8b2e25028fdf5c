// libFuzzer target for the backend reply parser: any bytes, for any expected
// reply shape, split anywhere: no crash, never past the input, always progress.

@_cdecl("LLVMFuzzerTestOneInput")
public func backendReplyParserFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let shapes: [ReplyShape] = [.retrieval, .line, .stats, .meta, .metaClient]
    let shape = shapes[Int(data[0] % 5)]
    let chunk = Int(data[0] >> 2) + 1
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    var parser = BackendReplyParser()
    var buffered: [UInt8] = []
    var fed = 0
    var steps = 0
    while fed < input.count {
        let end = min(input.count, fed + chunk)
        buffered.append(contentsOf: input[fed..<end])
        fed = end
        while !buffered.isEmpty {
            steps += 1
            precondition(steps < 10 * (input.count + 10), "the parser does not make progress")
            let step = buffered.withUnsafeBytes { parser.next($0, shape: shape) }
            let consumed: Int
            switch step {
            case .needMoreData:
                consumed = -1
            case .itemHeader(let length), .end(let length), .statLine(let length), .line(let length, _):
                consumed = length
            case .itemData(let count, _):
                consumed = count
            case .protocolError:
                return 0
            }
            if consumed < 0 { break }
            precondition(consumed > 0 || step == .end(length: 0), "a step that consumed nothing")
            precondition(consumed <= buffered.count, "consumed \(consumed) of \(buffered.count) bytes")
            buffered.removeFirst(consumed)
        }
    }
    return 0
}
