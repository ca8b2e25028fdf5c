// The one-line replies memcached gives to writes and broadcasts: anything else
// on such a request means the backend is out of step (or not memcached).
import Glibc

extension BackendReplyParser {
    private static let words: [StaticString] = ["STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED", "OK"]
    private static let metaStatuses: [StaticString] = ["HD", "NF", "NS", "EX", "EN", "MN"]

    /// Whether `content` (a line without its \r\n) is a reply memcached can give
    /// to a one-line-reply request: a status word, an incr/decr result (digits),
    /// an error line, a version, or a meta status. A garbled line is refused, so
    /// the request fails over or gets an error instead of passing garbage on.
    static func isKnownLineReply(_ content: UnsafeRawBufferPointer) -> Bool {
        if content.starts(with: "ERROR") || content.starts(with: "CLIENT_ERROR") || content.starts(with: "SERVER_ERROR")
            || content.starts(with: "VERSION ") {
            return true
        }
        for word in words where content.count == word.utf8CodeUnitCount && content.starts(with: word) { return true }
        if content.count <= 20 && content.allSatisfy({ $0 >= 48 && $0 <= 57 }) { return true }
        for status in metaStatuses where content.starts(with: status) {
            if content.count == 2 || content[2] == 32 { return true }
        }
        return false
    }
}
