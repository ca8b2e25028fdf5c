// The memcached text-protocol verbs the proxy understands (classic and meta),
// and what each one means for routing: read, write (replicated to the
// backup), broadcast or local.
import Glibc

public enum Command: UInt8, Sendable, CaseIterable {
    case get, gets, gat, gats
    case set, add, replace, append, prepend, cas
    case incr, decr, delete, touch
    case flushAll, verbosity
    case version, quit, stats
    /// The meta protocol: mg, ms, md, ma, mn, me.
    case metaGet, metaSet, metaDelete, metaArithmetic, metaNoop, metaDebug

    /// get/gets/gat/gats: any number of keys, answered with VALUE blocks and END.
    public var isRetrieval: Bool {
        switch self {
        case .get, .gets, .gat, .gats: return true
        default: return false
        }
    }

    /// Reads a key's value without changing it: get, gets, gat and gats (gat
    /// touches only the TTL), mg and me.
    public var readsValue: Bool { isRetrieval || self == .metaGet || self == .metaDebug }

    /// Commands followed by a data block of a declared length.
    public var hasDataBlock: Bool {
        switch self {
        case .set, .add, .replace, .append, .prepend, .cas, .metaSet: return true
        default: return false
        }
    }

    /// Single-key writes: sent to the key's primary and copied to its backup.
    public var isKeyedWrite: Bool {
        switch self {
        case .set, .add, .replace, .append, .prepend, .cas, .incr, .decr, .delete, .touch: return true
        default: return false
        }
    }

    /// Writes the backup cannot simply repeat (its copy may be stale or
    /// missing): sent to the primary only, and copied once the primary applied them.
    public var replicatesAfterPrimary: Bool {
        switch self {
        case .add, .replace, .cas, .append, .prepend, .incr, .decr, .touch: return true
        default: return false
        }
    }

    /// add, replace and cas: the value is kept to be set on the backup once
    /// the primary stored it.
    public var capturesValue: Bool { self == .add || self == .replace || self == .cas }

    public var isMeta: Bool {
        switch self {
        case .metaGet, .metaSet, .metaDelete, .metaArithmetic, .metaNoop, .metaDebug: return true
        default: return false
        }
    }

    /// Sent to every primary and backup; the client hears OK only if all agree.
    public var isBroadcast: Bool { self == .flushAll || self == .verbosity }

    /// The verb as sent to a backend.
    public var verb: StaticString {
        switch self {
        case .get: return "get"
        case .gets: return "gets"
        case .gat: return "gat"
        case .gats: return "gats"
        case .set: return "set"
        case .add: return "add"
        case .replace: return "replace"
        case .append: return "append"
        case .prepend: return "prepend"
        case .cas: return "cas"
        case .incr: return "incr"
        case .decr: return "decr"
        case .delete: return "delete"
        case .touch: return "touch"
        case .flushAll: return "flush_all"
        case .verbosity: return "verbosity"
        case .version: return "version"
        case .quit: return "quit"
        case .stats: return "stats"
        case .metaGet: return "mg"
        case .metaSet: return "ms"
        case .metaDelete: return "md"
        case .metaArithmetic: return "ma"
        case .metaNoop: return "mn"
        case .metaDebug: return "me"
        }
    }

    /// Matches a verb by length first, then bytes (case-sensitive, as memcached).
    static func match(_ token: UnsafeRawBufferPointer) -> Command? {
        @inline(__always) func equals(_ text: StaticString) -> Bool {
            memcmp(token.baseAddress!, text.utf8Start, token.count) == 0
        }
        switch token.count {
        case 2:
            guard token[0] == UInt8(ascii: "m") else { return nil }
            switch token[1] {
            case UInt8(ascii: "g"): return .metaGet
            case UInt8(ascii: "s"): return .metaSet
            case UInt8(ascii: "d"): return .metaDelete
            case UInt8(ascii: "a"): return .metaArithmetic
            case UInt8(ascii: "n"): return .metaNoop
            case UInt8(ascii: "e"): return .metaDebug
            default: return nil
            }
        case 3:
            switch token[0] {
            case UInt8(ascii: "g"): return equals("get") ? .get : equals("gat") ? .gat : nil
            case UInt8(ascii: "s"): return equals("set") ? .set : nil
            case UInt8(ascii: "a"): return equals("add") ? .add : nil
            case UInt8(ascii: "c"): return equals("cas") ? .cas : nil
            default: return nil
            }
        case 4:
            switch token[0] {
            case UInt8(ascii: "g"): return equals("gets") ? .gets : equals("gats") ? .gats : nil
            case UInt8(ascii: "i"): return equals("incr") ? .incr : nil
            case UInt8(ascii: "d"): return equals("decr") ? .decr : nil
            case UInt8(ascii: "q"): return equals("quit") ? .quit : nil
            default: return nil
            }
        case 5:
            return equals("touch") ? .touch : equals("stats") ? .stats : nil
        case 6:
            return equals("append") ? .append : equals("delete") ? .delete : nil
        case 7:
            return equals("replace") ? .replace : equals("prepend") ? .prepend : equals("version") ? .version : nil
        case 9:
            return equals("flush_all") ? .flushAll : equals("verbosity") ? .verbosity : nil
        default:
            return nil
        }
    }
}
