// A backend address as the user typed it after -s or -b: the text that names
// the server in `stats` and on the ketama ring, and the port as a number.
import Glibc

public struct ServerAddress: Sendable, Equatable, Hashable {
    /// The host exactly as typed (an IPv6 address keeps its brackets).
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// "host:port", as the `stats` matrix shows it.
    public var displayName: String { "\(host):\(port)" }

    /// "host-port", the server's name on the ketama ring.
    public var ketamaName: String { "\(host)-\(port)" }

    /// The host without IPv6 brackets, for the resolver.
    public var resolvableHost: String {
        if host.hasPrefix("[") && host.hasSuffix("]") { return String(host.dropFirst().dropLast()) }
        return host
    }

    /// A name for the resolver, not a numeric IPv4 or IPv6 address: only such
    /// an address is looked up again (on SIGHUP, after a failed probe).
    public var isHostName: Bool {
        var scratch = in6_addr()
        // A scoped IPv6 address ("fe80::1%eth0") is numeric too.
        let host = String(resolvableHost.prefix { $0 != "%" })
        return inet_pton(AF_INET, host, &scratch) != 1 && inet_pton(AF_INET6, host, &scratch) != 1
    }

    public static let defaultPort = 11211

    /// Parses "host:port", "host", "[v6]:port" or "[v6]". As in the original, a
    /// port that is missing, zero or not a number means 11211; a port above
    /// 65535 is an error (nil), and so is an empty host.
    public static func parse(_ text: String) -> ServerAddress? {
        var host = text
        var portText: Substring? = nil
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[...close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { return nil }
        } else if let colon = text.firstIndex(of: ":") {
            if text[text.index(after: colon)...].contains(":") {
                host = text  // a bare IPv6 address: no port
            } else {
                host = String(text[..<colon])
                portText = text[text.index(after: colon)...]
            }
        }
        guard !host.isEmpty, host != "[]" else { return nil }
        var port = defaultPort
        if let portText {
            // atoi(): leading digits only.
            let digits = portText.prefix { $0.isASCII && $0.isNumber }
            if let value = Int(digits.prefix(9)), value > 0 {
                guard value <= 65535 else { return nil }
                port = value
            }
        }
        return ServerAddress(host: host, port: port)
    }
}
