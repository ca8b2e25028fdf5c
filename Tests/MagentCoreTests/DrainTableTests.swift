// The drain's decision tables: the process's stop sequence (ShutdownDrain:
// which signal drains, when the drain ends) and one client connection's
// (ClientDrain: served while a request or reply is under way, writes shut
// at the first idle moment, closed once the client has every reply byte).

import Testing
@testable import MagentCore

@Suite struct DrainTableTests {
    private typealias Row = (event: ShutdownDrain.Event, actions: [ShutdownDrain.Action], phase: ShutdownDrain.Phase)

    private func play(_ machine: inout ShutdownDrain, _ rows: [Row], sourceLocation: SourceLocation = #_sourceLocation) {
        for (index, row) in rows.enumerated() {
            #expect(machine.handle(row.event) == row.actions, "row \(index): \(row.event)", sourceLocation: sourceLocation)
            #expect(machine.phase == row.phase, "row \(index): \(row.event)", sourceLocation: sourceLocation)
        }
    }

    private static let started: [ShutdownDrain.Action] = [
        .closeListeners, .drainClients, .logDrainStarted(timeoutMilliseconds: 5000), .startTicking,
    ]

    // MARK: - ShutdownDrain

    @Test func drainEndsWhenEveryClientIsGone() {
        var machine = ShutdownDrain(timeoutMilliseconds: 5000)
        play(&machine, [
            (.tick(now: 50, openClients: 3, workersIdle: false), [], .serving),
            (.signal(.drain, now: 100), Self.started, .draining(deadline: 5100)),
            (.tick(now: 110, openClients: 3, workersIdle: false), [], .draining(deadline: 5100)),
            // Clients gone, but a backup's copy is still owed: wait for it.
            (.tick(now: 120, openClients: 0, workersIdle: false), [], .draining(deadline: 5100)),
            (.tick(now: 130, openClients: 0, workersIdle: true), [.logDrainEnded(.allClosed), .stopLoop], .stopped),
            (.tick(now: 140, openClients: 0, workersIdle: true), [], .stopped),
            (.signal(.drain, now: 150), [], .stopped),
        ])
    }

    @Test func drainEndsAtItsDeadline() {
        var machine = ShutdownDrain(timeoutMilliseconds: 5000)
        play(&machine, [
            (.signal(.drain, now: 0), Self.started, .draining(deadline: 5000)),
            (.tick(now: 4999, openClients: 1, workersIdle: true), [], .draining(deadline: 5000)),
            (.tick(now: 5000, openClients: 1, workersIdle: true), [.logDrainEnded(.timedOut), .stopLoop], .stopped),
        ])
    }

    @Test func idleClientsOnlyNeedTheWorkersToFinish() {
        var machine = ShutdownDrain(timeoutMilliseconds: 5000)
        play(&machine, [
            (.signal(.drain, now: 0), Self.started, .draining(deadline: 5000)),
            (.tick(now: 5000, openClients: 0, workersIdle: false), [.logDrainEnded(.timedOut), .stopLoop], .stopped),
        ])
    }

    @Test("a second signal during the drain stops at once", arguments: [StopRequest.drain, .immediate])
    func secondSignal(_ second: StopRequest) {
        var machine = ShutdownDrain(timeoutMilliseconds: 5000)
        play(&machine, [
            (.signal(.drain, now: 0), Self.started, .draining(deadline: 5000)),
            (.signal(second, now: 10), [.logDrainEnded(.interrupted), .stopLoop], .stopped),
        ])
    }

    @Test func sigintStopsAtOnce() {
        var machine = ShutdownDrain(timeoutMilliseconds: 5000)
        play(&machine, [
            (.signal(.immediate, now: 0), [.closeListeners, .logStoppingNow, .stopLoop], .stopped),
            (.signal(.drain, now: 1), [], .stopped),
        ])
    }

    @Test func drainTimeoutZeroStopsAtOnce() {
        var machine = ShutdownDrain(timeoutMilliseconds: 0)
        play(&machine, [(.signal(.drain, now: 0), [.closeListeners, .logStoppingNow, .stopLoop], .stopped)])
    }

    /// The deadline counts from the time of the signal.
    @Test func deadlineFromTheSignalsTime() {
        var machine = ShutdownDrain(timeoutMilliseconds: 1)
        _ = machine.handle(.signal(.drain, now: 1_000_000))
        #expect(machine.phase == .draining(deadline: 1_000_001))
    }

    // MARK: - ClientDrain

    private static func queues(request: Bool = false, reply: Bool = false, unacknowledged: Int = 0) -> ClientDrain.Queues {
        ClientDrain.Queues(requestPending: request, replyPending: reply, unacknowledged: unacknowledged)
    }

    private func play(_ drain: inout ClientDrain, _ rows: [(ClientDrain.Event, ClientDrain.Action, ClientDrain.Phase)],
                      sourceLocation: SourceLocation = #_sourceLocation) {
        for (index, row) in rows.enumerated() {
            #expect(drain.handle(row.0) == row.1, "row \(index): \(row.0)", sourceLocation: sourceLocation)
            #expect(drain.phase == row.2, "row \(index): \(row.0)", sourceLocation: sourceLocation)
        }
    }

    @Test func noDrainNoChange() {
        var drain = ClientDrain()
        play(&drain, [
            (.check(Self.queues()), .none, .serving),
            (.check(Self.queues(request: true, reply: true)), .none, .serving),
        ])
    }

    @Test func anIdleClientIsClosedAtOnce() {
        var drain = ClientDrain()
        play(&drain, [
            (.drainBegan, .none, .draining),
            (.check(Self.queues()), .shutWrites, .writesShut),
            (.check(Self.queues()), .close, .closed),
            (.check(Self.queues()), .none, .closed),
            (.drainBegan, .none, .closed),
        ])
    }

    /// Pipelined requests: served while any request or reply is under way,
    /// closed at the first boundary with neither.
    @Test func aBusyClientIsServedUntilItsFirstIdleMoment() {
        var drain = ClientDrain()
        play(&drain, [
            (.drainBegan, .none, .draining),
            (.check(Self.queues(request: true, reply: true)), .none, .draining),
            (.check(Self.queues(reply: true)), .none, .draining),
            // Request bytes received and not read yet are a request pending.
            (.check(Self.queues(request: true)), .none, .draining),
            (.drainBegan, .none, .draining),
            (.check(Self.queues(unacknowledged: 300)), .shutWrites, .writesShut),
        ])
    }

    /// Writes shut: the socket closes only once the client acknowledged every
    /// reply byte (a close with bytes unacknowledged could reset them).
    @Test func closedOnceTheClientHasEveryReplyByte() {
        var drain = ClientDrain()
        play(&drain, [
            (.drainBegan, .none, .draining),
            (.check(Self.queues(unacknowledged: 4096)), .shutWrites, .writesShut),
            (.check(Self.queues(unacknowledged: 4096)), .none, .writesShut),
            (.check(Self.queues(unacknowledged: 1)), .none, .writesShut),
            // Input is no longer read: what the client sent after the end changes nothing.
            (.check(Self.queues(request: true, unacknowledged: 0)), .close, .closed),
        ])
    }
}
