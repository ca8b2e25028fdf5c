// Why a client's request was refused without reaching a backend, and the exact
// reply memcached itself gives for the same mistake.

public enum ClientError: Sendable, Equatable {
    /// Unknown verb, wrong number of tokens, empty line: memcached says ERROR.
    case unknownCommand
    case badCommandLine
    case badDeleteUsage
    case invalidExptime
    case invalidDelta
    case lineTooLong
    /// A data block longer than --max-value-size: refused and skipped, as memcached does.
    case valueTooLarge
    /// A meta command's `b` key is not valid base64.
    case badKeyEncoding
    /// A binary-protocol packet (0x80) on a connection that began as text: memcached decides
    /// the protocol by the first byte a client sends, and so does the proxy.
    case binaryProtocol

    public var replyText: StaticString {
        switch self {
        case .unknownCommand: return "ERROR\r\n"
        case .badCommandLine: return "CLIENT_ERROR bad command line format\r\n"
        case .badDeleteUsage: return "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
        case .invalidExptime: return "CLIENT_ERROR invalid exptime argument\r\n"
        case .invalidDelta: return "CLIENT_ERROR invalid numeric delta argument\r\n"
        case .lineTooLong: return "CLIENT_ERROR line too long\r\n"
        case .valueTooLarge: return "SERVER_ERROR object too large for cache\r\n"
        case .badKeyEncoding: return "CLIENT_ERROR error decoding key\r\n"
        case .binaryProtocol: return "CLIENT_ERROR binary protocol packet on a text connection\r\n"
        }
    }
}
