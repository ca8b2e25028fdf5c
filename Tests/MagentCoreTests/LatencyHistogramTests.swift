// LatencyHistogram's bucket arithmetic and the histogram families of the
// Prometheus exposition (magent_request_duration_seconds, magent_server_round_trip_seconds).

import Testing
@testable import MagentCore

@Suite struct LatencyHistogramTests {
    @Test("a duration falls in the first bucket whose bound it does not exceed; past 2.5s it is +Inf")
    func bucketBounds() {
        let histogram = LatencyHistogram(rows: 1)
        let table: [(nanoseconds: UInt64, bucket: Int)] = [
            (0, 0), (1, 0), (50_000, 0), (50_001, 1), (100_000, 1), (100_001, 2), (999_999, 4), (1_000_000, 4),
            (1_000_001, 5), (1_000_000_000, 13), (2_500_000_000, 14), (2_500_000_001, 15), (.max, 15),
        ]
        for (nanoseconds, bucket) in table {
            #expect(histogram.bucket(forNanoseconds: nanoseconds) == bucket, "\(nanoseconds) ns")
        }
        #expect(LatencyHistogram.bucketCount == LatencyHistogram.bounds.count + 1)
        #expect(LatencyHistogram.bounds == LatencyHistogram.bounds.sorted())
    }

    @Test("the search that starts from a duration's bit width agrees with a plain scan at every bound and power of two")
    func bucketSearchMatchesScan() {
        let histogram = LatencyHistogram(rows: 1)
        func scanned(_ nanoseconds: UInt64) -> Int {
            LatencyHistogram.bounds.firstIndex { nanoseconds <= $0 } ?? LatencyHistogram.bounds.count
        }
        var durations: [UInt64] = [0, .max]
        for bound in LatencyHistogram.bounds { durations += [bound - 1, bound, bound + 1] }
        for shift in 0..<64 { durations += [(1 << UInt64(shift)) - 1, 1 << UInt64(shift), (1 << UInt64(shift)) + 1] }
        for nanoseconds in durations {
            #expect(histogram.bucket(forNanoseconds: nanoseconds) == scanned(nanoseconds), "\(nanoseconds) ns")
        }
    }

    @Test("records land in their row only; the sum is in nanoseconds; cumulative ends at the count")
    func recordAndRead() {
        let histogram = LatencyHistogram(rows: 3)
        histogram.record(row: 1, nanoseconds: 40_000)
        histogram.record(row: 1, nanoseconds: 40_000)
        histogram.record(row: 1, nanoseconds: 300_000)
        histogram.record(row: 1, nanoseconds: 9_000_000_000)
        let counts = histogram.counts(row: 1)
        #expect(counts.count == 4)
        #expect(counts.sumNanoseconds == 9_000_380_000)
        #expect(counts.buckets[0] == 2 && counts.buckets[3] == 1 && counts.buckets[15] == 1)
        #expect(counts.cumulative == [2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4])
        #expect(histogram.counts(row: 0) == LatencyHistogram.Counts())
        #expect(histogram.counts(row: 2).count == 0)
        #expect((counts + counts).cumulative.last == 8)
    }

    @Test("seconds are exact decimals without trailing zeros")
    func secondsText() {
        let table: [(Int, String)] = [(0, "0"), (50_000, "0.00005"), (250_000, "0.00025"), (1_000_000, "0.001"),
                                      (2_500_000, "0.0025"), (1_000_000_000, "1"), (2_500_000_000, "2.5"),
                                      (1, "0.000000001"), (12_345_678_901, "12.345678901")]
        for (nanoseconds, text) in table {
            #expect(PrometheusExposition.seconds(nanoseconds: nanoseconds) == text)
        }
    }

    @Test("one histogram: cumulative buckets, +Inf, _sum in seconds, _count")
    func histogramText() {
        var counts = LatencyHistogram.Counts()
        counts.buckets[0] = 2
        counts.buckets[4] = 1
        counts.buckets[15] = 1
        counts.sumNanoseconds = 3_000_900_000
        var text = ""
        PrometheusExposition.histogram("x_seconds", labels: "command=\"get\"", counts, into: &text)
        let les = ["0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                   "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
        let values = [2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4]
        var expected = ""
        for (le, value) in zip(les, values) { expected += "magent_x_seconds_bucket{command=\"get\",le=\"\(le)\"} \(value)\n" }
        expected += "magent_x_seconds_sum{command=\"get\"} 3.0009\n"
        expected += "magent_x_seconds_count{command=\"get\"} 4\n"
        #expect(text == expected)
    }

    @Test("the exposition has both histogram families, typed, one series per family and per server")
    func exposition() throws {
        var snapshot = sampleSnapshot()
        var counts = LatencyHistogram.Counts()
        counts.buckets[2] = 5
        counts.sumNanoseconds = 1_000_000
        snapshot.requestLatency = RequestFamily.allCases.map { ($0, $0 == .get ? counts : LatencyHistogram.Counts()) }
        snapshot.servers[0].roundTrips = counts
        let text = PrometheusExposition.render(snapshot)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("# TYPE magent_request_duration_seconds histogram"))
        #expect(lines.contains("# TYPE magent_server_round_trip_seconds histogram"))
        #expect(lines.contains("magent_request_duration_seconds_bucket{command=\"get\",le=\"0.0001\"} 0"))
        #expect(lines.contains("magent_request_duration_seconds_bucket{command=\"get\",le=\"0.00025\"} 5"))
        #expect(lines.contains("magent_request_duration_seconds_count{command=\"get\"} 5"))
        #expect(lines.contains("magent_request_duration_seconds_sum{command=\"get\"} 0.001"))
        #expect(lines.contains("magent_request_duration_seconds_count{command=\"other\"} 0"))
        #expect(lines.contains("magent_server_round_trip_seconds_bucket{server=\"127.0.0.1:21201\",role=\"primary\",le=\"+Inf\"} 5"))
        #expect(lines.contains("magent_server_round_trip_seconds_count{server=\"cache-b:21311\",role=\"backup\"} 0"))
        let infs = lines.filter { $0.hasPrefix("magent_request_duration_seconds_bucket") && $0.contains("le=\"+Inf\"") }
        #expect(infs.count == RequestFamily.allCases.count)
        let rounds = lines.filter { $0.hasPrefix("magent_server_round_trip_seconds_count") }
        #expect(rounds.count == snapshot.servers.count)
        // Every family named in a TYPE line once, each sample after its TYPE line.
        let types = lines.filter { $0.hasPrefix("# TYPE ") }
        #expect(Set(types).count == types.count)
    }

    @Test("command families: gat and gats share gat, meta commands share meta, the rest is other")
    func families() {
        #expect(RequestFamily(.get) == .get && RequestFamily(.gets) == .gets)
        #expect(RequestFamily(.gats) == .gat && RequestFamily(.metaGet) == .meta && RequestFamily(.metaNoop) == .meta)
        #expect(RequestFamily(.version) == .other && RequestFamily(.flushAll) == .other)
        #expect(RequestFamily.delete.label == "delete" && RequestFamily.other.label == "other")
        #expect(Set(Command.allCases.map { RequestFamily($0) }).count == RequestFamily.allCases.count)
    }
}
