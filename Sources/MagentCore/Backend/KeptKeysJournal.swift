// The kept-keys journal in --state-dir: every change to what PendingDeletes
// keeps is appended as one line (KeptKeysRecord), so a proxy restarted in
// the middle of an outage still knows which keys each server missed.
//
// Appends are written at once (a proxy killed a moment later loses nothing:
// the kernel has the bytes) and made durable by a background thread within
// about `syncDelayMicroseconds` (what a host that loses power can lose). The
// file is rewritten compact at start-up and when it has grown far past what
// it holds, and cut back to its header whenever nothing is kept.
//
// Every mutating call comes from PendingDeletes under its lock, so appends,
// rewrites and truncations never overlap; the sync thread takes `fdLock`
// only to borrow a descriptor.
import Glibc
import Synchronization

final class KeptKeysJournal: @unchecked Sendable {
    static let fileName = "kept-keys.journal"
    /// How long the sync thread lets appends gather before one fdatasync.
    static let syncDelayMicroseconds: UInt32 = 10_000
    /// A file past this many bytes, and four times what it holds, is rewritten.
    static let compactionThreshold = 16 << 20

    let path: String
    private let directory: String
    private var fd: Int32
    private let fdLock = ThreadLock(())
    /// Bytes appended since the file was last rewritten.
    private var appendedBytes = 0
    /// A write failed: logged once, and the journal is off from then on.
    private(set) var failure: String?
    private let dirty = Atomic<Bool>(false)
    private var wakeup = sem_t()
    private var syncThread = pthread_t()

    private init(directory: String, fd: Int32) {
        self.directory = directory
        path = directory + "/" + Self.fileName
        self.fd = fd
        sem_init(&wakeup, 0, 0)
    }

    /// Opens (or creates) the journal in `directory` and reads what it
    /// holds. A file that is not a journal is moved aside (`.unreadable`)
    /// and a fresh one started; the replay says so. Fails only when the
    /// directory cannot be used at all.
    static func open(directory given: String) -> Result<(KeptKeysJournal, KeptKeysReplay), StartupError> {
        // Absolute: the proxy leaves its working directory when it goes to the background.
        let directory = given.hasPrefix("/") ? given : ProxyServer.currentDirectory() + "/" + given
        var status = stat()
        guard stat(directory, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            return .failure(StartupError("--state-dir \(given): not a directory"))
        }
        let path = directory + "/" + fileName
        let existing = readWhole(path)
        var replay = KeptKeysReplay()
        switch existing {
        case .failure(let error) where error.code != ENOENT:
            return .failure(StartupError("--state-dir: cannot read \(path): \(errorText(error.code))"))
        case .failure:
            break
        case .success(let contents):
            replay = KeptKeysReplay(contents: contents)
            if replay.foreign && rename(path, path + ".unreadable") != 0 {
                return .failure(StartupError("--state-dir: \(path) is not a kept-keys journal and cannot be moved aside: \(errorText(errno))"))
            }
        }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failure(StartupError("--state-dir: cannot open \(path): \(errorText(errno))")) }
        return .success((KeptKeysJournal(directory: directory, fd: fd), replay))
    }

    /// Starts the thread that makes appends durable.
    func startSyncing() {
        let status = pthread_create(&syncThread, nil, { journal in
            Unmanaged<KeptKeysJournal>.fromOpaque(journal!).takeUnretainedValue().syncLoop()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        if status != 0 { failure = "cannot start the journal's sync thread: \(errorText(status))" }
    }

    // MARK: - Writing (under PendingDeletes' lock)

    /// Appends one record. Returns a message the first time a write fails.
    func append(_ record: KeptKeysRecord) -> String? {
        guard failure == nil else { return nil }
        let line = record.line
        guard writeAll(fd, line) else { return fail("cannot append to \(path): \(errorText(errno))") }
        appendedBytes += line.count
        markDirty()
        return nil
    }

    /// Whether the file has grown enough past `liveRecords` lines to be rewritten.
    func wantsCompaction(liveRecords: Int) -> Bool {
        failure == nil && appendedBytes > Self.compactionThreshold && appendedBytes > 4 * 80 * liveRecords
    }

    /// Replaces the file with exactly `records`: written beside it, synced,
    /// renamed over it. Returns a message when that failed (the journal is off then).
    func rewrite(_ records: [KeptKeysRecord]) -> String? {
        guard failure == nil else { return nil }
        let temporary = path + ".new"
        let newFd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard newFd >= 0 else { return fail("cannot write \(temporary): \(errorText(errno))") }
        var contents = KeptKeysRecord.header
        for record in records { contents += record.line }
        guard writeAll(newFd, contents), fsync(newFd) == 0, rename(temporary, path) == 0 else {
            let message = "cannot rewrite \(path): \(errorText(errno))"
            close(newFd)
            unlink(temporary)
            return fail(message)
        }
        syncDirectory()
        fdLock.withLock { _ in
            close(fd)
            fd = newFd
        }
        appendedBytes = 0
        return nil
    }

    /// Nothing is kept any more: the file goes back to its header.
    func truncate() -> String? {
        guard failure == nil else { return nil }
        guard ftruncate(fd, off_t(KeptKeysRecord.header.count)) == 0 else { return fail("cannot truncate \(path): \(errorText(errno))") }
        appendedBytes = 0
        markDirty()
        return nil
    }

    private func fail(_ message: String) -> String {
        failure = message
        return message
    }

    private func markDirty() {
        if !dirty.exchange(true, ordering: .acquiringAndReleasing) { sem_post(&wakeup) }
    }

    // MARK: - Syncing (its own thread)

    private func syncLoop() {
        while true {
            while sem_wait(&wakeup) != 0 && errno == EINTR {}
            usleep(Self.syncDelayMicroseconds)
            dirty.store(false, ordering: .sequentiallyConsistent)
            let borrowed = fdLock.withLock { _ in dup(fd) }
            guard borrowed >= 0 else { continue }
            _ = fdatasync(borrowed)
            close(borrowed)
        }
    }

    private func syncDirectory() {
        let directoryFd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFd >= 0 else { return }
        _ = fsync(directoryFd)
        close(directoryFd)
    }

    // MARK: - File helpers

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }

    private static func readWhole(_ path: String) -> Result<[UInt8], SystemError> {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(SystemError(errno)) }
        defer { close(fd) }
        switch FileContents.read(fd) {
        case .success(let contents): return .success(contents)
        case .failure(.system(let code)): return .failure(SystemError(code))
        case .failure(.tooLarge): return .failure(SystemError(EFBIG))  // no limit asked: not reached
        }
    }
}
