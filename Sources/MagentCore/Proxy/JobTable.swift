// A worker's jobs, recycled: a job is named by a `JobHandle` (index,
// generation), which is what a pending backend reply, a value capture or a
// merge share holds. An event for a handle whose job finished is dropped.

final class JobTable {
    private var records: [JobRecord] = []
    private var free: [UInt32] = []

    init(reserve: Int = 256) {
        records.reserveCapacity(reserve)
        free.reserveCapacity(reserve)
    }

    /// A fresh record of `kind` and its handle.
    func acquire(_ kind: JobKind) -> (JobHandle, JobRecord) {
        let index: UInt32
        if let reused = free.popLast() {
            index = reused
        } else {
            index = UInt32(records.count)
            records.append(JobRecord())
        }
        let record = records[Int(index)]
        record.kind = kind
        return (JobHandle(index: index, generation: record.generation), record)
    }

    /// The record `handle` names, or nil when it finished since (or is detached).
    @inline(__always)
    func record(_ handle: JobHandle) -> JobRecord? {
        guard !handle.isDetached else { return nil }
        let record = records[Int(handle.index)]
        return record.generation == handle.generation ? record : nil
    }

    /// Jobs running now (a drain waits for them).
    var liveCount: Int { records.count - free.count }

    /// Recycles the record: every handle to it goes stale.
    func release(_ handle: JobHandle) {
        guard let record = record(handle) else { return }
        record.reset()
        free.append(handle.index)
    }
}
