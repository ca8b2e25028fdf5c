// One line of the kept-keys journal (--state-dir): a key kept for a server
// (a delete or a write it missed) or forgotten again. Lines carry their own
// checksum, so a torn or damaged line is told apart from a good one and
// skipped; keys are percent-encoded, so a binary-protocol key with spaces or
// newlines stays one line.

enum KeptKeysRecord: Equatable, Sendable {
    /// `server` missed a write (`missedWrite`) or a delete of `key`.
    case kept(server: String, key: [UInt8], missedWrite: Bool)
    /// Nothing is kept for `key` on `server` any more.
    case forgotten(server: String, key: [UInt8])
    /// `server` missed more keys than its list holds: it is flushed and
    /// refilled in full before it is used again.
    case overflowed(server: String)
    /// `server` was flushed: nothing is kept for it, and it is not overflowed.
    case cleared(server: String)

    /// The first line of every journal: what it is, and its format version.
    static let header: [UInt8] = Array("magent-kept-keys 1\n".utf8)

    /// The name a server goes by in the journal: its list and its address
    /// as configured, which stay the same across restarts (ids do not).
    static func serverName(role: ServerRole, address: ServerAddress) -> String {
        "\(role == .primary ? "primary" : "backup")/\(address.displayName)"
    }

    /// `checksum body\n`: eight hex digits of FNV-1a over the body.
    var line: [UInt8] {
        var body: [UInt8]
        switch self {
        case .kept(let server, let key, let missedWrite):
            body = Array("K \(missedWrite ? "w" : "d") \(server) ".utf8)
            Self.appendEncoded(key, to: &body)
        case .forgotten(let server, let key):
            body = Array("F \(server) ".utf8)
            Self.appendEncoded(key, to: &body)
        case .overflowed(let server):
            body = Array("O \(server)".utf8)
        case .cleared(let server):
            body = Array("C \(server)".utf8)
        }
        var line = Self.hex(Self.checksum(body[...]))
        line.append(UInt8(ascii: " "))
        line += body
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// Reads one line without its newline; nil when the checksum does not
    /// match or the line is not one this format writes.
    init?(line: ArraySlice<UInt8>) {
        guard line.count > 9, line[line.startIndex + 8] == UInt8(ascii: " ") else { return nil }
        let body = line[(line.startIndex + 9)...]
        guard let sum = Self.parseHex(line[line.startIndex..<(line.startIndex + 8)]), sum == Self.checksum(body) else { return nil }
        let fields = body.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        switch (fields.first.map { Array($0) }, fields.count) {
        case ([UInt8(ascii: "K")], 4):
            guard fields[1].count == 1, fields[1].first == UInt8(ascii: "w") || fields[1].first == UInt8(ascii: "d"),
                  !fields[2].isEmpty, let key = Self.decoded(fields[3]), !key.isEmpty else { return nil }
            self = .kept(server: String(decoding: fields[2], as: UTF8.self), key: key, missedWrite: fields[1].first == UInt8(ascii: "w"))
        case ([UInt8(ascii: "F")], 3):
            guard !fields[1].isEmpty, let key = Self.decoded(fields[2]), !key.isEmpty else { return nil }
            self = .forgotten(server: String(decoding: fields[1], as: UTF8.self), key: key)
        case ([UInt8(ascii: "O")], 2), ([UInt8(ascii: "C")], 2):
            guard !fields[1].isEmpty else { return nil }
            let server = String(decoding: fields[1], as: UTF8.self)
            self = fields[0].first == UInt8(ascii: "O") ? .overflowed(server: server) : .cleared(server: server)
        default:
            return nil
        }
    }

    // MARK: - Encoding

    private static func mustEscape(_ byte: UInt8) -> Bool { byte <= 0x20 || byte == UInt8(ascii: "%") || byte >= 0x7f }

    private static func appendEncoded(_ key: [UInt8], to out: inout [UInt8]) {
        for byte in key {
            if mustEscape(byte) {
                out.append(UInt8(ascii: "%"))
                out += hexDigits(byte)
            } else {
                out.append(byte)
            }
        }
    }

    private static func decoded(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var key: [UInt8] = []
        key.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "%") {
                guard text.endIndex - index >= 3, let value = parseHex(text[(index + 1)..<(index + 3)]) else { return nil }
                key.append(UInt8(value))
                index += 3
            } else {
                guard !mustEscape(byte) else { return nil }
                key.append(byte)
                index += 1
            }
        }
        return key
    }

    /// FNV-1a, 32 bits.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in bytes { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return hash
    }

    private static let digits = Array("0123456789abcdef".utf8)

    private static func hexDigits(_ byte: UInt8) -> [UInt8] { [digits[Int(byte >> 4)], digits[Int(byte & 0xf)]] }

    private static func hex(_ value: UInt32) -> [UInt8] {
        (0..<8).map { digits[Int((value >> UInt32(28 - 4 * $0)) & 0xf)] }
    }

    private static func parseHex(_ text: ArraySlice<UInt8>) -> UInt32? {
        guard !text.isEmpty else { return nil }
        var value: UInt32 = 0
        for byte in text {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
