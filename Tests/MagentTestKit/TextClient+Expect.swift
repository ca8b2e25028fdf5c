// Expectations on a TextClient: a request and its exact reply, silence, and
// replies that must come in time. Failures are recorded at the caller's line.
import Testing

extension TextClient {
    /// Sends `request`, reads as many bytes as `expected` has and expects them to be
    /// exactly `expected`. On a short or late reply the harness error is recorded.
    public func expect(_ request: String, _ expected: String, timeout: Double? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        expect(Array(request.utf8), expected, timeout: timeout, sourceLocation: sourceLocation)
    }

    public func expect(_ request: [UInt8], _ expected: String, timeout: Double? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try send(request)
            let reply = try read(count: expected.utf8.count, timeout: timeout)
            #expect(escaped(reply, limit: 4000) == escaped(Array(expected.utf8), limit: 4000), sourceLocation: sourceLocation)
        } catch {
            Issue.record("request \"\(escaped(request))\": expected \"\(escaped(Array(expected.utf8)))\": \(error)",
                         sourceLocation: sourceLocation)
        }
    }

    /// Expects that nothing more arrives within `waiting` seconds (an observation
    /// window: silence cannot be polled for).
    public func expectSilence(waiting: Double = 0.15, sourceLocation: SourceLocation = #_sourceLocation) {
        let extra = readAvailable(waiting: waiting)
        #expect(extra.isEmpty, "unexpected bytes: \"\(escaped(extra))\"", sourceLocation: sourceLocation)
    }
}

/// Sends `request`, reads exactly `expected`'s length and checks both the bytes and
/// that the reply came within `within` seconds.
public func expectTimely(_ client: TextClient, _ request: String, _ expected: String, within: Double,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    let started = now()
    client.expect(request, expected, timeout: within + 2, sourceLocation: sourceLocation)
    let elapsed = now() - started
    #expect(elapsed < within, "reply to \"\(escaped(bytes(request)))\" took \(elapsed) s", sourceLocation: sourceLocation)
}

/// Sends `request` and reads one line within `within` seconds.
public func timelyLine(_ client: TextClient, _ request: String, within: Double,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let started = now()
    try client.send(request)
    let line = try client.readLine(timeout: within + 2)
    let elapsed = now() - started
    #expect(elapsed < within, "reply to \"\(escaped(bytes(request)))\" took \(elapsed) s", sourceLocation: sourceLocation)
    return line
}
