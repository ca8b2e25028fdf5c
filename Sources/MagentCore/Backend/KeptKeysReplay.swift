// What a kept-keys journal says, read back at start-up: the last record of
// each key on each server wins. A file that is not a journal, a damaged
// line and a torn last line (the proxy died in the middle of writing it) are
// counted for the log, never fatal.

struct KeptKeysReplay: Equatable {
    /// Per server name: each kept key and whether what it missed was a write.
    var kept: [String: [[UInt8]: Bool]] = [:]
    /// Servers whose list overflowed and that were not flushed since.
    var overflowed: Set<String> = []
    /// Lines whose checksum or form was wrong (skipped).
    var damagedLines = 0
    /// The last line had no newline: cut short by a crash (skipped).
    var tornLastLine = false
    /// The file did not start with the journal's header: nothing was read from it.
    var foreign = false

    var keptCount: Int { kept.values.reduce(0) { $0 + $1.count } }

    init() {}

    /// Reads a journal's whole contents. An empty file is an empty journal.
    init(contents: [UInt8]) {
        guard !contents.isEmpty else { return }
        let header = KeptKeysRecord.header
        guard contents.count >= header.count, contents[0..<header.count].elementsEqual(header) else {
            foreign = true
            return
        }
        var start = header.count
        while start < contents.count {
            guard let end = contents[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                tornLastLine = true
                break
            }
            if let record = KeptKeysRecord(line: contents[start..<end]) {
                apply(record)
            } else {
                damagedLines += 1
            }
            start = end + 1
        }
    }

    mutating func apply(_ record: KeptKeysRecord) {
        switch record {
        case .kept(let server, let key, let missedWrite):
            kept[server, default: [:]][key] = missedWrite
        case .forgotten(let server, let key):
            kept[server]?.removeValue(forKey: key)
            if kept[server]?.isEmpty == true { kept.removeValue(forKey: server) }
        case .overflowed(let server):
            overflowed.insert(server)
        case .cleared(let server):
            kept.removeValue(forKey: server)
            overflowed.remove(server)
        }
    }
}
