// What a backend connection still owes: one entry per request sent, in order.

struct PendingReply {
    /// The job the reply is for (`.detached`: nobody waits for it).
    var job: JobHandle
    /// Whether this server is the job's primary or its backup.
    var role: ServerRole
    var shape: ReplyShape
    /// Monotonic milliseconds after which the reply is late; `.max` while the
    /// request's data block is still arriving from the client.
    var deadline: UInt64
    /// The value this request carried was abandoned mid-way: memcached will
    /// refuse it, and the job hears `.uploadStalled` instead of that refusal.
    var abandoned = false
    /// Replies this entry stands for: one per `mg` line when a get went to
    /// the server as meta gets (one entry per share keeps failures to one
    /// event per job); 1 otherwise.
    var repliesLeft: Int32 = 1
    /// Monotonic nanoseconds when it was submitted on the connection (set
    /// there), for the round-trip histogram.
    var submittedAt: UInt64 = 0
}
