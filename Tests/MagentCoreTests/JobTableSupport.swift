// Shared by the job decision tables: named server situations, and a runner
// that feeds rows of (event, expected actions) to a machine and names the
// row that disagrees.

import Testing
@testable import MagentCore

// MARK: - Route status presets

extension RouteStatus {
    /// Primary and backup both up (no meta gets, no --miss-failover).
    static let bothUp = RouteStatus(primaryUp: true, hasBackup: true, backupUp: true)
    /// The primary is down; the backup is up.
    static let primaryDown = RouteStatus(primaryUp: false, hasBackup: true, backupUp: true)
    /// The primary is back after being away (it may lack keys); the backup is up.
    static let primaryRecovering = RouteStatus(primaryUp: true, primaryRecovering: true, hasBackup: true, backupUp: true)
    /// The primary is back with its data, keys it missed still being dropped from it.
    static let primaryResyncing = RouteStatus(primaryUp: true, primaryRecovering: true, primaryResyncing: true,
                                              hasBackup: true, backupUp: true)
    /// The primary recovers, but its backup is down.
    static let recoveringBackupDown = RouteStatus(primaryUp: true, primaryRecovering: true, hasBackup: true, backupUp: false)
    /// A backup is configured but down; the primary is up.
    static let backupDown = RouteStatus(primaryUp: true, hasBackup: true, backupUp: false)
    /// Both servers are down.
    static let bothDown = RouteStatus(primaryUp: false, hasBackup: true, backupUp: false)
    /// No backup is configured; the primary is up.
    static let noBackup = RouteStatus(primaryUp: true)
    /// No backup is configured and the primary is down.
    static let noBackupPrimaryDown = RouteStatus(primaryUp: false)

    /// The same, with both servers answering meta gets.
    var withMetaGets: RouteStatus {
        var status = self
        status.primaryAnswersMetaGets = true
        status.backupAnswersMetaGets = true
        return status
    }

    /// The same, with --miss-failover (every miss of the primary asked of the backup).
    var withMissFailoverAlways: RouteStatus {
        var status = self
        status.missFailoverAlways = true
        return status
    }
}

// MARK: - Machines

/// What the tables drive: a machine that takes one event and returns its actions.
protocol TableMachine {
    mutating func handle(_ event: JobEvent) -> JobActions
    var isFinished: Bool { get }
}

extension RetrievalJob: TableMachine {}
extension WriteJob: TableMachine {}
extension BroadcastJob: TableMachine {}
extension MergeJob: TableMachine {}
extension ReplicationJob: TableMachine {}
extension RepairJob: TableMachine {}
extension StatsShareJob: TableMachine {}

/// One row of a table: an event and the exact actions it must produce.
typealias TableRow = (event: JobEvent, actions: [JobAction])

/// Feeds `rows` to `machine` in order and checks each row's actions exactly.
func play<Machine: TableMachine>(_ machine: inout Machine, _ rows: [TableRow], table: String = "",
                                 sourceLocation: SourceLocation = #_sourceLocation) {
    run(&machine, rows, table: table, checkingFinish: false, sourceLocation: sourceLocation)
}

/// As `play`, and the machine must finish on the last row (and not before).
func playToFinish<Machine: TableMachine>(_ machine: inout Machine, _ rows: [TableRow], table: String = "",
                                         sourceLocation: SourceLocation = #_sourceLocation) {
    run(&machine, rows, table: table, checkingFinish: true, sourceLocation: sourceLocation)
}

private func run<Machine: TableMachine>(_ machine: inout Machine, _ rows: [TableRow], table: String, checkingFinish: Bool,
                                        sourceLocation: SourceLocation) {
    for (index, row) in rows.enumerated() {
        let actual = machine.handle(row.event).list
        #expect(actual == row.actions, "\(rowName(table, index, row.event)): expected \(describe(row.actions)), got \(describe(actual))",
                sourceLocation: sourceLocation)
        guard checkingFinish else { continue }
        let last = index == rows.count - 1
        #expect(machine.isFinished == last,
                "\(rowName(table, index, row.event)): isFinished is \(machine.isFinished), expected \(last)",
                sourceLocation: sourceLocation)
    }
}

/// Each event must produce no action.
func expectIgnored<Machine: TableMachine>(_ machine: inout Machine, _ events: [JobEvent], table: String = "",
                                          sourceLocation: SourceLocation = #_sourceLocation) {
    play(&machine, events.map { ($0, []) }, table: table, sourceLocation: sourceLocation)
}

/// Every kind of event, each with a plausible payload: for the tables of events a state cannot take.
func everyEvent(_ status: RouteStatus = .bothUp) -> [JobEvent] {
    [
        .start(status),
        .itemStarted(.primary, keptDelete: false), .itemStarted(.backup, keptDelete: false),
        .itemBytes(.primary, endsItem: true), .itemBytes(.backup, endsItem: false),
        .ended(.primary, status), .ended(.backup, status),
        .line(.primary, .success, status), .line(.backup, .miss, status),
        .failed(.primary, .timeout, status, replyStarted: false), .failed(.backup, .notSent, status, replyStarted: true),
        .statLine(.primary), .statLine(.backup),
        .valueCaptured, .valueAbandoned, .shareCompleted,
    ]
}

// MARK: - Messages

private func rowName(_ table: String, _ index: Int, _ event: JobEvent) -> String {
    (table.isEmpty ? "" : table + ", ") + "row \(index + 1) [\(describe(event))]"
}

/// A status by its preset name where it is one.
func describe(_ status: RouteStatus) -> String {
    let presets: [(String, RouteStatus)] = [
        ("bothUp", .bothUp), ("primaryDown", .primaryDown), ("primaryRecovering", .primaryRecovering),
        ("recoveringBackupDown", .recoveringBackupDown), ("backupDown", .backupDown), ("bothDown", .bothDown),
        ("noBackup", .noBackup), ("noBackupPrimaryDown", .noBackupPrimaryDown),
    ]
    for (name, preset) in presets {
        if status == preset { return name }
        if status == preset.withMetaGets { return name + "+metaGets" }
        if status == preset.withMissFailoverAlways { return name + "+missFailoverAlways" }
        if status == preset.withMetaGets.withMissFailoverAlways { return name + "+metaGets+missFailoverAlways" }
    }
    return String(describing: status).replacing("MagentCore.", with: "")
}

func describe(_ event: JobEvent) -> String {
    switch event {
    case .start(let status): return "start(\(describe(status)))"
    case .itemStarted(let role, let keptDelete): return "itemStarted(\(role), keptDelete: \(keptDelete))"
    case .itemBytes(let role, let endsItem): return "itemBytes(\(role), endsItem: \(endsItem))"
    case .ended(let role, let status): return "ended(\(role), \(describe(status)))"
    case .line(let role, let line, let status): return "line(\(role), \(line), \(describe(status)))"
    case .failed(let role, let reason, let status, let replyStarted):
        return "failed(\(role), \(reason), \(describe(status)), replyStarted: \(replyStarted))"
    case .statLine(let role): return "statLine(\(role))"
    case .valueCaptured: return "valueCaptured"
    case .valueAbandoned: return "valueAbandoned"
    case .shareCompleted: return "shareCompleted"
    }
}

func describe(_ actions: [JobAction]) -> String {
    "[" + actions.map { String(describing: $0).replacing("MagentCore.", with: "") }.joined(separator: ", ") + "]"
}

// MARK: - Parameterized cases

/// One route status and the actions a machine's row must produce under it.
struct StatusCase: Sendable, CustomTestStringConvertible {
    let name: String
    let status: RouteStatus
    let actions: [JobAction]

    init(_ name: String, _ status: RouteStatus, _ actions: [JobAction]) {
        self.name = name
        self.status = status
        self.actions = actions
    }

    var testDescription: String { name }
}
