// The load generator's command line: what traffic to send, how long, how hard.

struct LoadOptions {
    var host = "127.0.0.1"
    var port = 11211
    /// Connections opened.
    var connections = 50
    /// Of those, how many send requests (the rest stay idle, open).
    var active: Int? = nil
    /// Requests in flight per active connection.
    var pipeline = 1
    var durationSeconds = 5.0
    /// Distinct keys; every one is set before the measured run.
    var keys = 10_000
    /// Share of requests that are gets (the rest are sets).
    var getRatio = 0.9
    var valueMin = 32
    var valueMax = 100
    /// Keys per get (1 = plain get; a range gives multi-gets).
    var keysPerGetMin = 1
    var keysPerGetMax = 1
    /// Total requests per second across connections; nil = as fast as replies come.
    var rate: Double? = nil
    var seed: UInt64 = 1
    /// Skip the preload (the keys are already there).
    var skipPreload = false
    /// Hold the connections open for this long after the run (memory measurements).
    var holdSeconds = 0.0

    static let usage = """
    usage: magent-loadgen [--host H] [--port P] [--connections N] [--active N] [--pipeline D]
                          [--duration S] [--keys K] [--get-ratio R] [--value-size MIN-MAX]
                          [--keys-per-get MIN-MAX] [--rate REQUESTS_PER_SECOND] [--seed N]
                          [--skip-preload] [--hold S]
    Sends memcached text-protocol load, checks every reply, prints one result line.
    """

    static func parse(_ arguments: [String]) -> LoadOptions? {
        var options = LoadOptions()
        var index = 0
        func value() -> String? {
            index += 1
            return index < arguments.count ? arguments[index] : nil
        }
        func range(_ text: String?) -> (Int, Int)? {
            guard let text else { return nil }
            let parts = text.split(separator: "-").compactMap { Int($0) }
            if parts.count == 1 { return (parts[0], parts[0]) }
            return parts.count == 2 && parts[0] <= parts[1] ? (parts[0], parts[1]) : nil
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--host": guard let text = value() else { return nil }; options.host = text
            case "--port": guard let number = value().flatMap({ Int($0) }) else { return nil }; options.port = number
            case "--connections": guard let number = value().flatMap({ Int($0) }), number > 0 else { return nil }; options.connections = number
            case "--active": guard let number = value().flatMap({ Int($0) }), number > 0 else { return nil }; options.active = number
            case "--pipeline": guard let number = value().flatMap({ Int($0) }), number > 0 else { return nil }; options.pipeline = number
            case "--duration": guard let number = value().flatMap({ Double($0) }), number > 0 else { return nil }; options.durationSeconds = number
            case "--keys": guard let number = value().flatMap({ Int($0) }), number > 0 else { return nil }; options.keys = number
            case "--get-ratio": guard let number = value().flatMap({ Double($0) }), number >= 0, number <= 1 else { return nil }; options.getRatio = number
            case "--value-size": guard let (low, high) = range(value()), low >= 1 else { return nil }; options.valueMin = low; options.valueMax = high
            case "--keys-per-get": guard let (low, high) = range(value()), low >= 1 else { return nil }; options.keysPerGetMin = low; options.keysPerGetMax = high
            case "--rate": guard let number = value().flatMap({ Double($0) }), number > 0 else { return nil }; options.rate = number
            case "--seed": guard let number = value().flatMap({ UInt64($0) }) else { return nil }; options.seed = number
            case "--skip-preload": options.skipPreload = true
            case "--hold": guard let number = value().flatMap({ Double($0) }), number >= 0 else { return nil }; options.holdSeconds = number
            default: return nil
            }
            index += 1
        }
        if let active = options.active, active > options.connections { return nil }
        return options
    }
}
