// One client connection while the proxy drains (SIGTERM): it is served as
// long as it has a request or a reply under way, and closed at the first
// request boundary where it has neither, after every reply byte has reached
// the client, so a close never cuts a reply or resets one still on its way.

struct ClientDrain: Equatable, Sendable {
    enum Phase: UInt8, Equatable, Sendable {
        /// No drain: nothing changes.
        case serving
        /// Served until idle.
        case draining
        /// Idle: writes shut (the client reads its replies, then end of
        /// input); no more requests are read. Waits for the client's
        /// acknowledgement of the last reply bytes.
        case writesShut
        case closed
    }

    /// What the connection holds when it is looked at.
    struct Queues: Equatable, Sendable {
        /// A request begun or waiting: bytes of an unfinished request (or a
        /// value) buffered, a request held for order, or request bytes
        /// received by the socket that were not read yet.
        var requestPending: Bool
        /// A reply owed or not yet written to the socket.
        var replyPending: Bool
        /// Reply bytes written but not yet acknowledged by the client (TCP).
        var unacknowledged: Int
    }

    enum Event: Equatable, Sendable {
        case drainBegan
        case check(Queues)
    }

    enum Action: Equatable, Sendable {
        case none
        /// shutdown(SHUT_WR) after the last reply, and stop reading: the
        /// client sees its replies whole, then the end of the stream.
        case shutWrites
        case close
    }

    private(set) var phase = Phase.serving

    mutating func handle(_ event: Event) -> Action {
        switch (phase, event) {
        case (.serving, .drainBegan):
            phase = .draining
            return .none
        case (.draining, .check(let queues)):
            guard !queues.requestPending && !queues.replyPending else { return .none }
            phase = .writesShut
            return .shutWrites
        case (.writesShut, .check(let queues)):
            guard queues.unacknowledged == 0 else { return .none }
            phase = .closed
            return .close
        case (.serving, .check), (.draining, .drainBegan), (.writesShut, .drainBegan), (.closed, _):
            return .none
        }
    }
}
