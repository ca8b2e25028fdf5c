// The write lines the proxy makes itself for a key it copies (restore,
// repair write-back, replication, refill): a storage line from an item read
// with `mg`, or a delete. Keys a text line cannot hold go as meta commands.

enum StorageLine {
    /// "<verb><key> <flags> <exptime> <bytes>\r\n" for an item read with `mg`,
    /// its remaining TTL turned back into an exptime; replaces what `line` held.
    /// A key that cannot sit on a text line becomes the meta equivalent:
    /// `ms <base64 key> <bytes> b F<flags> T<exptime>[ ME]` (ME: add).
    static func write(_ verb: StaticString, key: UnsafeRawBufferPointer, header: MetaValueHeader, into line: ByteBuffer) {
        line.clear()
        guard KeyToken.isTextSafe(key) else {
            line.append("ms ")
            Base64.encode(key, into: line)
            line.append(byte: 32)
            line.appendDecimal(header.size)
            line.append(" b F")
            line.appendDecimal(Int(header.flags))
            line.append(" T")
            line.appendDecimal(ServerRefiller.exptime(remaining: header.ttl))
            if verb.utf8Start[0] == UInt8(ascii: "a") { line.append(" ME") }
            line.append("\r\n")
            return
        }
        line.append(verb)
        line.append(key)
        line.append(byte: 32)
        line.appendDecimal(Int(header.flags))
        line.append(byte: 32)
        line.appendDecimal(ServerRefiller.exptime(remaining: header.ttl))
        line.append(byte: 32)
        line.appendDecimal(header.size)
        line.append("\r\n")
    }

    /// `delete <key>`, or `md <base64 key> b` for a key a text line cannot hold.
    static func writeDelete(key: UnsafeRawBufferPointer, into line: ByteBuffer) {
        line.clear()
        if KeyToken.isTextSafe(key) {
            line.append("delete ")
            line.append(key)
        } else {
            line.append("md ")
            Base64.encode(key, into: line)
            line.append(" b")
        }
        line.append("\r\n")
    }
}
