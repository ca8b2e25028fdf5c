// Keys on a text line: meta commands may carry a key base64-encoded (`b`
// flag), and binary-protocol keys may hold any byte. Placement always hashes
// the raw key; a key that cannot sit on a text line as it is travels to
// memcached base64-encoded with the `b` flag.

public enum KeyToken {
    /// Whether `key` can be written on a command line as it is: 1...250 bytes,
    /// no space and no control byte.
    public static func isTextSafe(_ key: UnsafeRawBufferPointer) -> Bool {
        guard key.count > 0 && key.count <= ProtocolLimits.maxKeyLength else { return false }
        for byte in key where byte <= 32 || byte == 127 { return false }
        return true
    }

    /// Appends `key` as a line token; returns true when it had to be
    /// base64-encoded (the command then needs the `b` flag).
    @discardableResult
    public static func append(_ key: UnsafeRawBufferPointer, to line: ByteBuffer) -> Bool {
        if isTextSafe(key) {
            line.append(key)
            return false
        }
        Base64.encode(key, into: line)
        return true
    }
}

/// Standard base64 (RFC 4648, with padding), as memcached's `b` flag uses.
public enum Base64 {
    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    public static func encode(_ bytes: UnsafeRawBufferPointer, into output: ByteBuffer) {
        let table = alphabet.utf8Start
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            output.append(byte: table[Int(chunk >> 18)])
            output.append(byte: table[Int(chunk >> 12 & 63)])
            output.append(byte: table[Int(chunk >> 6 & 63)])
            output.append(byte: table[Int(chunk & 63)])
            index += 3
        }
        let left = bytes.count - index
        guard left > 0 else { return }
        let chunk = UInt32(bytes[index]) << 16 | (left == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
        output.append(byte: table[Int(chunk >> 18)])
        output.append(byte: table[Int(chunk >> 12 & 63)])
        output.append(byte: left == 2 ? table[Int(chunk >> 6 & 63)] : 61)
        output.append(byte: 61)
    }

    /// Decodes `text` into `output` (nil only validates); false (output then
    /// undefined) when it is not valid padded base64 or decodes to nothing.
    public static func decode(_ text: UnsafeRawBufferPointer, into output: ByteBuffer?) -> Bool {
        guard text.count > 0, text.count % 4 == 0 else { return false }
        var index = 0
        while index < text.count {
            var chunk: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let byte = text[index + offset]
                if byte == 61 {
                    // Padding only at the end, and only in the last two places.
                    guard index + 4 == text.count, offset >= 2 else { return false }
                    padding += 1
                    chunk <<= 6
                    continue
                }
                guard padding == 0, let value = sextet(byte) else { return false }
                chunk = chunk << 6 | value
            }
            if let output {
                output.append(byte: UInt8(chunk >> 16))
                if padding < 2 { output.append(byte: UInt8(chunk >> 8 & 255)) }
                if padding < 1 { output.append(byte: UInt8(chunk & 255)) }
            }
            index += 4
        }
        return true
    }

    private static func sextet(_ byte: UInt8) -> UInt32? {
        switch byte {
        case 65...90: return UInt32(byte - 65)
        case 97...122: return UInt32(byte - 97 + 26)
        case 48...57: return UInt32(byte - 48 + 52)
        case 43: return 62
        case 47: return 63
        default: return nil
        }
    }
}
