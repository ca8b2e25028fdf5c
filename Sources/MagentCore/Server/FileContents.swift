// A whole file read through its descriptor, for the configuration file and
// the kept-keys journal.
import Glibc

enum FileContents {
    enum Failure: Error, Equatable {
        /// read(2) failed with this errno.
        case system(Int32)
        /// More bytes than the caller's limit.
        case tooLarge
    }

    /// What `fd` holds from its offset to its end; `.tooLarge` once more than `limit` bytes were read.
    static func read(_ fd: Int32, limit: Int = .max) -> Result<[UInt8], Failure> {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.system(errno))
            }
            if count == 0 { return .success(bytes) }
            bytes += chunk[0..<count]
            if bytes.count > limit { return .failure(.tooLarge) }
        }
    }
}
