// Faults for a chaos test, one server at a time: a memcached killed and
// restarted empty, frozen, flapping or slowed (SIGSTOP/SIGCONT), with calm
// periods between, and a timeline other threads read to say which fault was
// active when something went wrong.
import Glibc
import MagentCore

/// Applies seeded faults to a cluster's memcached servers, never two at once:
/// before each fault every server is `up` (not down, not recovering) in `stats
/// servers`, so a key's primary and backup are never faulty together.
///
/// - kill: SIGKILL, down 0.2-1 s, restarted empty on the same port; done when the
///   proxy has noticed the restart (`recoveries` went up) and refilled it.
/// - freeze: SIGSTOP for 1-3 s, then SIGCONT (the server comes back with its old data).
/// - flap: 3-6 stops of 0.3-0.9 s (longer than the request timeout), 0.2-0.6 s apart.
/// - slow: 15-30 stops of 30-200 ms (shorter than the request timeout), 50-150 ms
///   apart: replies come late but in time. (A server slow on every reply would
///   need a mock backend in front of memcached; this one is slow in bursts.)
/// - proxy restart: a server frozen until the proxy marks it down (or 3 s), the
///   proxy killed (SIGKILL) 0.2-1 s later and started again on its port, the
///   server thawed 0.2-1 s after that, with its old data. The cluster's proxy
///   should run with --state-dir, or what it kept for the server is lost.
///
/// `run` is called by one thread (it owns the servers); `describer` is safe from any.
public final class ChaosFaults {
    public enum Kind: String, CaseIterable, Sendable {
        case kill = "kill+restart"
        case freeze
        case flap
        case slow
        case proxyRestart = "proxy-restart"
    }

    /// One fault as applied: times in seconds since the run started.
    public struct Applied: Sendable, CustomStringConvertible {
        public var kind: Kind
        /// "P1", "P2" or "B".
        public var server: String
        public var start: Double
        public var end: Double? = nil
        /// When every server was `up` again.
        public var recovered: Double? = nil
        public var detail: String

        public var description: String {
            func seconds(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "?" }
            return "\(kind.rawValue) \(server) \(detail) at \(seconds(start))-\(seconds(end)) s, up at \(seconds(recovered)) s"
        }
    }

    private struct Timeline: Sendable {
        var current: Applied? = nil
        var last: Applied? = nil
        /// Proxy kills so far, twice each (see proxyKillCount).
        var proxyKills = 0
    }

    private let cluster: Cluster
    /// Label ("P1"), `stats servers` name ("primary:1") and process of each server.
    private let servers: [(label: String, name: String, memcached: Memcached)]
    private let started: Double
    private let timeline = ThreadLock(Timeline())
    private let requestTimeout: Double
    private let kinds: [Kind]
    public private(set) var applied: [Applied] = []
    /// Faults that did not end as they should (a server not up again in time, a failed restart).
    public private(set) var problems: [String] = []

    /// `started`: the run's start on `now()`'s clock. `requestTimeout`: the proxy's, in seconds.
    /// `kinds`: the faults to choose from (all of them by default).
    public init(cluster: Cluster, started: Double, requestTimeout: Double, kinds: [Kind] = Kind.allCases) {
        self.cluster = cluster
        self.kinds = kinds
        self.started = started
        self.requestTimeout = requestTimeout
        var servers: [(label: String, name: String, memcached: Memcached)] = []
        for (index, server) in cluster.primaries.enumerated() { servers.append(("P\(index + 1)", "primary:\(index + 1)", server)) }
        for (index, server) in cluster.backups.enumerated() {
            servers.append((cluster.backups.count == 1 ? "B" : "B\(index + 1)", "backup:\(index + 1)", server))
        }
        self.servers = servers
    }

    /// What was going on at `time` (seconds since the start), for a violation's report.
    public var describer: @Sendable (Double) -> String {
        let timeline = self.timeline
        return { time in
            timeline.withLock { state in
                func ago(_ value: Double?) -> String { value.map { String(format: "%.1f s ago", time - $0) } ?? "" }
                if let current = state.current {
                    if let end = current.end {
                        return "after \(current.kind.rawValue) \(current.server), ended \(ago(end)), not up yet"
                    }
                    return "\(current.kind.rawValue) \(current.server) active since \(ago(current.start))"
                }
                if let last = state.last {
                    return "calm; last \(last.kind.rawValue) \(last.server) ended \(ago(last.end)), up \(ago(last.recovered))"
                }
                return "calm; no fault yet"
            }
        }
    }

    /// Proxy kills so far, counted twice: once as the kill begins (odd while
    /// the proxy is being restarted) and once the new proxy listens. Safe from
    /// any thread: a client's connection broken after or during a kill was
    /// broken by it.
    public var proxyKillCount: @Sendable () -> Int {
        let timeline = self.timeline
        return { timeline.withLock { $0.proxyKills } }
    }

    /// Applies faults with 1-3 s of calm before each until `deadline` (none starts
    /// later than 1 s before it); returns once the last one is over and repaired.
    public func run(until deadline: Double, seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        for _ in 0..<10_000 {
            // The scenario: a calm period under load before the next fault.
            let calm = 1 + Double(random.next() % 2000) / 1000
            sleep(seconds: min(calm, max(0, deadline - now())))
            guard now() < deadline - 1 else { break }
            // One at a time: the last fault must be repaired before the next one.
            guard waitAllUp(timeout: 60) else {
                problems.append("before a fault at \(String(format: "%.1f", now() - started)) s: servers not all up: "
                                + ServerStates.describe((try? ServerStates.read(cluster)) ?? [:]))
                break
            }
            // Weights: kill 30, freeze 25, flap 18, slow 15, proxy restart 12 (of the kinds chosen).
            let weights: [Kind: UInt64] = [.kill: 30, .freeze: 25, .flap: 18, .slow: 15, .proxyRestart: 12]
            var roll = random.next() % kinds.reduce(0) { $0 + weights[$1]! }
            var kind = kinds[0]
            for candidate in kinds {
                if roll < weights[candidate]! {
                    kind = candidate
                    break
                }
                roll -= weights[candidate]!
            }
            let target = servers[Int(random.next() % UInt64(servers.count))]
            if !apply(kind, to: target, random: &random) { break }
        }
    }

    /// Waits (bounded) until `stats servers` shows every server `up`; false if not in time.
    @discardableResult
    public func waitAllUp(timeout: Double) -> Bool {
        let names = servers.map { "\($0.name):state" }
        return ServerStates.watch(cluster, timeout: timeout, interval: 0.1) { stats in
            names.allSatisfy { stats[$0] == "up" }
        }.done
    }

    /// Applies one fault and waits until it is repaired; false when the run cannot go on.
    private func apply(_ kind: Kind, to target: (label: String, name: String, memcached: Memcached),
                       random: inout SeededGenerator) -> Bool {
        let server = target.memcached
        let recoveriesBefore = ServerStates.number((try? ServerStates.read(cluster)) ?? [:], "\(target.name):recoveries")
        var fault = Applied(kind: kind, server: target.label, start: now() - started, detail: "")
        func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * Double(random.next() % 1001) / 1000 }
        timeline.withLock { $0.current = fault }
        var ok = true
        switch kind {
        case .kill:
            let down = uniform(0.2, 1.0)
            fault.detail = String(format: "(down %.1f s)", down)
            server.kill()
            // The scenario: the server stays dead a while under load.
            sleep(seconds: down)
            do { try server.restart() } catch {
                problems.append("restart of \(target.label) failed: \(error)")
                ok = false
            }
        case .freeze:
            let frozen = uniform(1, 3)
            fault.detail = String(format: "(%.1f s)", frozen)
            server.pause()
            // The scenario: the server is frozen this long.
            sleep(seconds: frozen)
            server.resume()
        case .proxyRestart:
            let before = uniform(0.2, 1.0)
            let after = uniform(0.2, 1.0)
            server.pause()
            // Marked down by the clients' load (their requests to it time out).
            let markedDown = waitUntil(timeout: 3, interval: 0.05) {
                ((try? ServerStates.read(cluster)) ?? [:])["\(target.name):state"] == "down"
            }
            fault.detail = String(format: "(frozen, %@, proxy killed %.1f s later, thawed %.1f s after its restart)",
                                  markedDown ? "marked down" : "not yet marked down", before, after)
            // The scenario: the outage goes on a while before the proxy dies.
            sleep(seconds: before)
            // Counted before the kill and again once the new proxy listens: a
            // connection opened in between may have reached the dying one.
            timeline.withLock { $0.proxyKills += 1 }
            do { try cluster.restartProxy() } catch {
                problems.append("the proxy did not start again: \(error)")
                ok = false
            }
            timeline.withLock { $0.proxyKills += 1 }
            // The scenario: the new proxy runs a while before the server thaws.
            sleep(seconds: after)
            server.resume()
        case .flap, .slow:
            let (count, stopRange, gapRange) = kind == .flap
                ? (3 + Int(random.next() % 4), (0.3, 0.9), (0.2, 0.6))
                : (15 + Int(random.next() % 16), (0.03, min(0.2, requestTimeout / 2)), (0.05, 0.15))
            fault.detail = "(\(count) stops)"
            for index in 0..<count {
                server.pause()
                // The scenario: one stop of the flapping (or slow) server...
                sleep(seconds: uniform(stopRange.0, stopRange.1))
                server.resume()
                // ...and the time it runs before the next.
                if index < count - 1 { sleep(seconds: uniform(gapRange.0, gapRange.1)) }
            }
        }
        fault.end = now() - started
        timeline.withLock { $0.current = fault }
        if ok {
            // Repaired: a restart noticed (a new pid, or down and back), and every server up.
            let noticed = kind != .kill || waitUntil(timeout: 60, interval: 0.1) {
                ServerStates.number((try? ServerStates.read(cluster)) ?? [:], "\(target.name):recoveries") > recoveriesBefore
            }
            if !noticed { problems.append("the restart of \(target.label) at \(String(format: "%.1f", fault.start)) s was never noticed") }
            if !waitAllUp(timeout: 60) {
                problems.append("after \(fault): not all up within 60 s: "
                                + ServerStates.describe((try? ServerStates.read(cluster)) ?? [:]))
                ok = false
            }
        }
        fault.recovered = now() - started
        applied.append(fault)
        timeline.withLock {
            $0.current = nil
            $0.last = fault
        }
        return ok
    }
}
