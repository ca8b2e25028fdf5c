// How a job's reply reaches its client: text as memcached sends it, meta with
// what the q flag hides left out, binary as response packets. The jobs decide
// the same way for all three; only this value differs.

enum ReplyFraming: Equatable, Sendable {
    /// Classic text replies, passed as they are.
    case text
    /// A client's meta command; `quiet`: it carried q.
    case meta(quiet: Bool)
    /// A binary request (translated into meta): replies become packets.
    case binary(BinaryFraming)

    /// What memcached leaves out under q: EN for mg, HD for ms, md and ma.
    func hides(line: UnsafeRawBufferPointer, command: Command) -> Bool {
        guard case .meta(quiet: true) = self else { return false }
        return command == .metaGet ? line.starts(with: "EN") : line.starts(with: "HD")
    }

    /// memcached 1.6 hides ma's value too under q.
    func hidesItem(command: Command) -> Bool {
        guard case .meta(quiet: true) = self else { return false }
        return command == .metaArithmetic
    }
}

/// How a binary client wants a reply framed.
struct BinaryFraming: Equatable, Sendable {
    var opcode: BinaryOpcode
    var opaque: UInt32
}
