// Why a backend request produced no reply, and what a client hears when no
// server could answer it.

public enum BackendFailure: UInt8, Sendable {
    case unavailable
    case timeout
    case protocolError
    /// The client stopped sending in the middle of a value; the value was dropped.
    case uploadStalled
    /// The connection never opened (refused, or not in time): the request
    /// surely did not reach the server.
    case notSent
    case connectTimeout

    var requestWasNotSent: Bool { self == .notSent || self == .connectTimeout }

    var replyText: StaticString {
        switch self {
        case .timeout, .connectTimeout: return "SERVER_ERROR backend timeout\r\n"
        case .uploadStalled: return "SERVER_ERROR value not received in time\r\n"
        case .unavailable, .protocolError, .notSent: return "SERVER_ERROR backend unavailable\r\n"
        }
    }
}
