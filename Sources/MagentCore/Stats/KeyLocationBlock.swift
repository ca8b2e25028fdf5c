// The reply to `stats key <key>`: the key's primary and backup, each one's
// state, whether it holds the key and what is kept for the key there.

enum KeyLocationBlock {
    /// What PendingDeletes keeps for the key on a server.
    enum Kept: String, Equatable, Sendable {
        case none, delete, write
    }

    /// One of the key's servers, as `stats key` shows it.
    struct Server: Equatable, Sendable {
        var address: String
        /// ServerHealth's name: up, down or recovering.
        var state: String
        var resyncing = false
        var has: KeyPresence
        var kept: Kept
    }

    /// `backup`: nil when the key has none (none configured, or it is the primary's address).
    static func render(key: String, primary: Server, backup: Server?) -> String {
        var lines = StatLines()
        lines.add("key", key)
        add("primary", primary, to: &lines)
        if let backup {
            add("backup", backup, to: &lines)
        } else {
            lines.add("backup", "none")
        }
        return lines.ended
    }

    private static func add(_ name: String, _ server: Server, to lines: inout StatLines) {
        lines.add(name, server.address)
        // A server that is down cannot be asked: what it holds is not known.
        lines.add(name + "_state", server.resyncing ? server.state + " resyncing" : server.state)
        lines.add(name + "_has", server.has.text)
        lines.add(name + "_kept", server.kept.rawValue)
    }
}
