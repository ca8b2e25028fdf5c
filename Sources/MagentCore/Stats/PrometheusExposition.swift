// The counters of `stats proxy` and `stats servers`, and the latency
// histograms, in Prometheus's text exposition format (version 0.0.4), served
// at /metrics by MetricsServer.

public enum PrometheusExposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(context: ProxyContext) -> String {
        render(StatsSnapshot(context: context))
    }

    static func render(_ snapshot: StatsSnapshot) -> String {
        var text = ""
        func family(_ name: String, _ type: String, _ help: String) {
            text += "# HELP magent_\(name) \(help)\n# TYPE magent_\(name) \(type)\n"
        }
        func sample(_ name: String, _ value: Int) {
            text += "magent_\(name) \(value)\n"
        }
        func sample(_ name: String, labels: String, _ value: Int) {
            text += "magent_\(name){\(labels)} \(value)\n"
        }

        family("info", "gauge", "Always 1; the version of this proxy.")
        sample("info", labels: "version=\"\(escape(MagentVersion.number))\"", 1)
        family("uptime_seconds", "gauge", "Seconds since the proxy started.")
        sample("uptime_seconds", snapshot.uptimeSeconds)
        family("threads", "gauge", "Worker threads (-t).")
        sample("threads", snapshot.threads)
        family("connections", "gauge", "Client connections open now.")
        sample("connections", snapshot.currentConnections)
        family("max_connections", "gauge", "Client connection limit (-n).")
        sample("max_connections", snapshot.maxConnections)

        for counter in ProxyCounter.allCases {
            family(counter.metricName, "counter", counter.help)
            sample(counter.metricName, snapshot.counters[counter] ?? 0)
        }
        family("get_misses_total", "counter", "Keys asked for that came back empty (get_keys - get_hits).")
        sample("get_misses_total", snapshot.getMisses)
        family("commands_total", "counter", "Requests received, by command.")
        for (command, count) in snapshot.commands {
            sample("commands_total", labels: "command=\"\(command.verb)\"", count)
        }
        family("pending_deletes_dropped_total", "counter", "Deletes not kept for an unreachable server because its list was full.")
        sample("pending_deletes_dropped_total", snapshot.pendingDeletesDropped)

        // Per server: labelled by address, role and position in its list.
        func perServer(_ name: String, _ type: String, _ help: String, _ value: (StatsSnapshot.Server) -> Int) {
            family(name, type, help)
            for server in snapshot.servers {
                sample(name, labels: labels(server), value(server))
            }
        }
        perServer("server_up", "gauge", "1 when the server is in use (up or recovering), 0 when marked down or overflowed.") {
            $0.state == "down" || $0.state == "overflowed" ? 0 : 1
        }
        perServer("server_recovering", "gauge", "1 while the server is being refilled after a restart or an outage.") {
            $0.state == "recovering" ? 1 : 0
        }
        for counter in ServerCounter.allCases {
            let isGauge = counter == .openConnections
            perServer("server_\(counter.name)\(isGauge ? "" : "_total")", isGauge ? "gauge" : "counter", counter.help) {
                $0.counters[counter] ?? 0
            }
        }
        perServer("server_idle_connections", "gauge", "Open connections owing no reply (the pool size of stats).") { $0.idleConnections }
        perServer("server_marked_down_total", "counter", "Times the server was marked down after --failure-limit failures in a row.") { $0.markedDown }
        perServer("server_recoveries_total", "counter", "Times the server was found restarted or back after being down.") { $0.recoveries }
        perServer("server_refill_copied", "gauge", "Keys copied into the server by its current or last refill.") { $0.refillCopied }
        perServer("server_refill_left", "gauge", "Keys still to copy into the server.") { $0.refillLeft }
        perServer("server_pending_deletes", "gauge", "Deletes kept for the server until it is reachable again.") { $0.pendingDeletes }
        perServer("server_missed_writes", "gauge", "Writes the server missed, kept until its copies of those keys are dropped or copied over.") { $0.missedWrites }

        family("request_duration_seconds", "histogram",
               "Client request latency by command family, from the request parsed to its whole reply queued for the client.")
        for (requestFamily, counts) in snapshot.requestLatency {
            histogram("request_duration_seconds", labels: "command=\"\(requestFamily.label)\"", counts, into: &text)
        }
        family("server_round_trip_seconds", "histogram",
               "Backend round trip, from a request submitted on a connection to the server to its reply or failure.")
        for server in snapshot.servers {
            histogram("server_round_trip_seconds",
                      labels: "server=\"\(escape(server.address))\",role=\"\(server.roleName)\"", server.roundTrips, into: &text)
        }
        return text
    }

    /// One histogram's samples: cumulative `_bucket` lines ending with
    /// `le="+Inf"`, then `_sum` (seconds) and `_count`.
    static func histogram(_ name: String, labels: String, _ counts: LatencyHistogram.Counts, into text: inout String) {
        let cumulative = counts.cumulative
        for (index, bound) in LatencyHistogram.bounds.enumerated() {
            text += "magent_\(name)_bucket{\(labels),le=\"\(seconds(nanoseconds: Int(bound)))\"} \(cumulative[index])\n"
        }
        text += "magent_\(name)_bucket{\(labels),le=\"+Inf\"} \(cumulative[cumulative.count - 1])\n"
        text += "magent_\(name)_sum{\(labels)} \(seconds(nanoseconds: counts.sumNanoseconds))\n"
        text += "magent_\(name)_count{\(labels)} \(counts.count)\n"
    }

    /// Nanoseconds as exact decimal seconds, no trailing zeros: 50000 is
    /// "0.00005", 2500000000 is "2.5", 1000000000 is "1".
    static func seconds(nanoseconds: Int) -> String {
        let whole = nanoseconds / 1_000_000_000
        var fraction = nanoseconds % 1_000_000_000
        guard fraction != 0 else { return String(whole) }
        var digits = 9
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        let text = String(fraction)
        return "\(whole)." + String(repeating: "0", count: digits - text.count) + text
    }

    private static func labels(_ server: StatsSnapshot.Server) -> String {
        "server=\"\(escape(server.address))\",role=\"\(server.roleName)\",index=\"\(server.index)\""
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
