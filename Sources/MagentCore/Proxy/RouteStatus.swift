// What a job knows of its two servers when an event reaches it: whether each
// is in use, whether the primary is recovering, whether each answers meta
// gets. Read fresh by the executor for every event that decides something.

struct RouteStatus: Equatable, Sendable {
    var primaryUp = true
    /// Back after being down or restarted: it may lack keys the backup has.
    var primaryRecovering = false
    /// Back with its data: keys it missed are still being dropped from it, so
    /// it is not read while the backup can answer.
    var primaryResyncing = false
    /// It missed a write or delete of this request's key (kept, not yet given
    /// to it): its copy is older, so it is not read while the backup can answer.
    var primaryCopyStale = false
    /// A request to it failed lately (it has not settled): a read may yet
    /// fail over to the backup. Set only for reads that start.
    var primaryUnsettled = false
    var primaryAnswersMetaGets = false
    /// The key has a backup (one is configured and it is not the primary).
    var hasBackup = false
    var backupUp = false
    var backupAnswersMetaGets = false
    /// --miss-failover: every miss of the primary is asked of the backup, not
    /// only while the primary recovers.
    var missFailoverAlways = false

    /// A read the primary cannot answer is answered by the backup (it
    /// recovers or resyncs, or --miss-failover): the backup's copy is the
    /// key's as much as the primary's, so a delete the backup applied deleted it.
    var backupCopyCounts: Bool { primaryRecovering || primaryResyncing || missFailoverAlways }

    /// The backup exists and is in use.
    var backupUsable: Bool { hasBackup && backupUp }

    func isUp(_ role: ServerRole) -> Bool { role == .primary ? primaryUp : backupUsable }

    func answersMetaGets(_ role: ServerRole) -> Bool { role == .primary ? primaryAnswersMetaGets : backupAnswersMetaGets }
}
