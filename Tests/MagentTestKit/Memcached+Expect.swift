// Expectations on what a memcached holds, read directly: replication to a
// backup is asynchronous, so these poll (bounded) before they fail.
import Testing

/// Polls a direct read until it gives `expected` (a backup copy is written in
/// parallel with the primary's, so it may land a moment after the reply).
public func eventually(_ server: Memcached, _ key: String, is expected: String?, timeout: Double = 2,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    var last: String?? = .none
    let matched = waitUntil(timeout: timeout, interval: 0.02) {
        last = .some(try? server.getString(key))
        return last == .some(expected)
    }
    #expect(matched, "\(key) on \(server.address): expected \(expected ?? "a miss"), found \(String(describing: last))",
            sourceLocation: sourceLocation)
}
