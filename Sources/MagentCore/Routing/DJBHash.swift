// magent's default key hash: Bernstein's "times 33" hash over the key's raw bytes.
// Bit-exact with the original so that a key lands on the same server (compat §2.1).

/// The original magent's DJB hash, including its quirks: each byte is read as a signed
/// `char` (so bytes >= 0x80 subtract), arithmetic wraps at 32 bits, and the result is
/// masked to 31 bits before the caller takes it modulo the server count.
public enum DJBHash {
    /// The masked hash of `key`, in `0 ... 0x7FFF_FFFF`.
    public static func hash(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt32 = 5381
        for byte in key {
            let signedByte = UInt32(bitPattern: Int32(Int8(bitPattern: byte)))
            hash = hash &* 33 &+ signedByte
        }
        return hash & 0x7FFF_FFFF
    }
}
