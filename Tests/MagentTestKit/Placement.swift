// Where magent places a key: the primary (and backup) index a server list
// gives it, computed with the proxy's own placement code.
import MagentCore

public enum Placement {
    /// The index of `key`'s primary (and backup) among servers with these
    /// placement names ("127.0.0.1-<port>", as `placementName` gives them).
    public static func predict(_ key: String, primaries: [String], backups: [String], mode: PlacementMode) -> (primary: Int, backup: Int?) {
        let keyBytes = Array(key.utf8)
        let primary = keyBytes.withUnsafeBytes { KeyPlacement(mode: mode, serverNames: primaries).serverIndex(for: $0) }
        guard !backups.isEmpty else { return (primary, nil) }
        let backup = keyBytes.withUnsafeBytes { KeyPlacement(mode: mode, serverNames: backups).serverIndex(for: $0) }
        return (primary, backup)
    }

    /// The first key `prefix<n>` (n < 1000) whose primary among `primaries` is `index`.
    public static func key(onPrimary index: Int, of primaries: [String], prefix: String,
                           mode: PlacementMode = .modulo) throws -> String {
        let placement = KeyPlacement(mode: mode, serverNames: primaries)
        for number in 0..<1000 {
            let key = "\(prefix)\(number)"
            if Array(key.utf8).withUnsafeBytes({ placement.serverIndex(for: $0) }) == index { return key }
        }
        throw HarnessError("no key \(prefix)<n> below 1000 has primary \(index) of \(primaries)")
    }
}
