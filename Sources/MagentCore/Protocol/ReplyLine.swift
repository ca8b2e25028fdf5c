// What a one-line backend reply means to the job that asked: the decisions
// (fail over, replicate, forget a kept delete) depend on this, not on bytes.

/// A one-line reply of memcached, classic or meta, by its meaning.
public enum ReplyLine: UInt8, Sendable, Equatable {
    /// OK (flush_all, verbosity).
    case ok
    /// The request took effect: STORED, TOUCHED, DELETED, a number (incr,
    /// decr), HD.
    case success
    /// EN: a meta get missed.
    case miss
    /// It did not take effect: NOT_STORED, EXISTS, NOT_FOUND, NS, EX, NF.
    case refused
    /// ERROR: memcached does not know the command.
    case unknownCommand
    /// CLIENT_ERROR or SERVER_ERROR.
    case error
    /// Anything else that is a valid reply (ME's debug line, VERSION).
    case other

    /// Classifies one reply line (without or with its line end).
    public init(_ line: UnsafeRawBufferPointer) {
        guard line.count >= 2 else {
            self = .other
            return
        }
        let first = line[0]
        let second = line[1]
        // A meta status is two letters, alone or before a space.
        if line.count == 2 || line[2] == 32 || line[2] == 13 {
            switch (first, second) {
            case (UInt8(ascii: "H"), UInt8(ascii: "D")): self = .success; return
            case (UInt8(ascii: "E"), UInt8(ascii: "N")): self = .miss; return
            case (UInt8(ascii: "N"), UInt8(ascii: "S")), (UInt8(ascii: "E"), UInt8(ascii: "X")),
                 (UInt8(ascii: "N"), UInt8(ascii: "F")): self = .refused; return
            case (UInt8(ascii: "O"), UInt8(ascii: "K")): self = .ok; return
            default: break
            }
        }
        if first >= 48 && first <= 57 {
            self = .success
        } else if line.starts(with: "STORED") || line.starts(with: "TOUCHED") || line.starts(with: "DELETED") {
            self = .success
        } else if line.starts(with: "NOT_STORED") || line.starts(with: "EXISTS") || line.starts(with: "NOT_FOUND") {
            self = .refused
        } else if line.starts(with: "ERROR") {
            self = .unknownCommand
        } else if line.starts(with: "CLIENT_ERROR") || line.starts(with: "SERVER_ERROR") {
            self = .error
        } else {
            self = .other
        }
    }
}
