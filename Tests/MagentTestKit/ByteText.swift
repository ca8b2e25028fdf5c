// Bytes and protocol text: conversions both ways, fields of a protocol line,
// and bytes shown readably in failure messages.
import Foundation

/// Bytes as readable text: printable ASCII kept, the rest escaped (`\r`, `\n`,
/// `\t`, `\0`, `\xNN`), cut with "…" after `limit` bytes.
public func escaped(_ bytes: some Sequence<UInt8>, limit: Int = 600) -> String {
    var text = ""
    var count = 0
    for byte in bytes {
        count += 1
        if count > limit {
            text += "…"
            break
        }
        switch byte {
        case 13: text += "\\r"
        case 10: text += "\\n"
        case 9: text += "\\t"
        case 0: text += "\\0"
        case 32..<127: text.append(Character(UnicodeScalar(byte)))
        default: text += String(format: "\\x%02x", byte)
        }
    }
    return text
}

public func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The bytes as UTF-8 (invalid sequences replaced).
public func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Space-separated fields of a protocol line, its "\r\n" removed. (Swift treats
/// "\r\n" as one Character, so never `dropLast(2)` a String.)
public func fields(_ line: String) -> [String] {
    var utf8 = Array(line.utf8)
    if utf8.last == 10 { utf8.removeLast() }
    if utf8.last == 13 { utf8.removeLast() }
    return utf8.split(separator: 32).map { String(decoding: $0, as: UTF8.self) }
}
