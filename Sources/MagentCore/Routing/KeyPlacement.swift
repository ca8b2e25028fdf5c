// Which server owns a key: magent's default DJB modulo, real ketama, or the original's
// broken ketama kept for migrations (compat §2). One instance per server list.

/// How keys are mapped to servers.
public enum PlacementMode: Sendable, Equatable {
    /// The default: DJB hash modulo the server count (compat §2.1).
    case modulo
    /// `-k`: the full 32-bit MD5 key hash on magent's ring, real consistent hashing.
    case ketama
    /// `--legacy-ketama`: the original's `-k` exactly. Only the first MD5 byte of the key is
    /// looked up on the ring, and a key whose first byte is 0 falls back to DJB modulo.
    case legacyKetama
}

/// Maps raw key bytes to a server index for one list (primaries or backups).
///
/// Built once at start-up; `serverIndex(for:)` runs per key on the request path and
/// allocates nothing.
public struct KeyPlacement: Sendable {
    /// The mode with the ring it needs, so a lookup never meets a missing ring.
    private enum Strategy: Sendable {
        case modulo
        case ketama(KetamaContinuum)
        case legacyKetama(KetamaContinuum)
    }

    private let strategy: Strategy
    public let serverCount: Int

    /// `serverNames` as for `KetamaContinuum` (`"<host as typed>-<port number>"`); for
    /// `.modulo` only their count matters. There must be at least one.
    public init(mode: PlacementMode, serverNames: [String]) {
        precondition(!serverNames.isEmpty, "key placement needs at least one server")
        serverCount = serverNames.count
        switch mode {
        case .modulo:
            strategy = .modulo
        case .ketama:
            strategy = .ketama(KetamaContinuum(serverNames: serverNames))
        case .legacyKetama:
            strategy = .legacyKetama(KetamaContinuum(serverNames: serverNames))
        }
    }

    /// The mode this placement was built for.
    public var mode: PlacementMode {
        switch strategy {
        case .modulo: .modulo
        case .ketama: .ketama
        case .legacyKetama: .legacyKetama
        }
    }

    /// The index of the server that owns `key` (raw bytes, case-sensitive).
    public func serverIndex(for key: UnsafeRawBufferPointer) -> Int {
        // Every mode, the legacy fallback included, sends every key to a lone server.
        if serverCount == 1 {
            return 0
        }
        switch strategy {
        case .modulo:
            return moduloIndex(for: key)
        case .ketama(let continuum):
            return continuum.serverIndex(forHash: MD5.digest(key).word0)
        case .legacyKetama(let continuum):
            // The original truncated the key hash to its first byte; 0 meant "no hash" to it.
            let firstByte = MD5.digest(key).byte(0)
            if firstByte == 0 {
                return moduloIndex(for: key)
            }
            return continuum.serverIndex(forHash: UInt32(firstByte))
        }
    }

    private func moduloIndex(for key: UnsafeRawBufferPointer) -> Int {
        Int(DJBHash.hash(key) % UInt32(serverCount))
    }
}
