// Recycles ReplyPart objects within one worker, so a request in steady state
// allocates none.

final class ReplyPartPool {
    private var free: [ReplyPart] = []
    private let limit: Int

    init(limit: Int = 4096) {
        self.limit = limit
        free.reserveCapacity(limit)
    }

    func acquire(worker: Worker, kind: ReplyPart.Kind) -> ReplyPart {
        let part = free.popLast() ?? ReplyPart(worker: worker)
        part.kind = kind
        return part
    }

    /// Drops one hold; the last one returns the part to the pool.
    func release(_ part: ReplyPart) {
        part.holds -= 1
        precondition(part.holds >= 0, "reply part released more often than held")
        guard part.holds == 0 else { return }
        part.reset()
        if free.count < limit { free.append(part) }
    }
}
