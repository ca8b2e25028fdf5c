// The command families client request latency is kept for: the
// `command` label of magent_request_duration_seconds.

public enum RequestFamily: UInt8, Sendable, CaseIterable {
    case get, gets, gat, set, add, replace, append, prepend, cas, incr, decr, delete, touch, meta, other

    /// gat and gats share `gat`; the meta commands share `meta`; flush_all,
    /// verbosity, version, quit, stats and binary-protocol requests are `other`.
    public init(_ command: Command) {
        switch command {
        case .get: self = .get
        case .gets: self = .gets
        case .gat, .gats: self = .gat
        case .set: self = .set
        case .add: self = .add
        case .replace: self = .replace
        case .append: self = .append
        case .prepend: self = .prepend
        case .cas: self = .cas
        case .incr: self = .incr
        case .decr: self = .decr
        case .delete: self = .delete
        case .touch: self = .touch
        case .metaGet, .metaSet, .metaDelete, .metaArithmetic, .metaNoop, .metaDebug: self = .meta
        case .flushAll, .verbosity, .version, .quit, .stats: self = .other
        }
    }

    public var label: String { "\(self)" }
}
