// --flush-all: what a client's flush_all does. `all` (memcached's meaning)
// empties every primary and backup; `refuse` answers an error and touches no
// server, so one flush (a PHP Memcached::flush()) cannot wipe every copy.

public enum FlushAllMode: String, Sendable, CaseIterable {
    /// flush_all (text, and binary flush) goes to every primary and backup.
    case all
    /// flush_all is answered with `refusalReply` (binary: `notSupported`).
    case refuse

    /// The text protocol's answer in `refuse` mode (nothing with noreply, as
    /// memcached -F answers nothing to `flush_all noreply`).
    static let refusalReply: StaticString = "SERVER_ERROR flush_all is refused by this proxy (flush-all = refuse)\r\n"
    /// The message of the binary protocol's `Not supported` status in `refuse` mode.
    static let refusalMessage: StaticString = "flush_all is refused by this proxy (flush-all = refuse)"
}
