// The text of `magent -h`: the original's lines, in its style, then ours.

public enum UsageText {
    public static func render(buildDate: String) -> String {
        """
        \(MagentVersion.banner) Build-Date: \(buildDate)
        Usage:
          -h this message
          -u uid
          -g gid
          -p port, default is 11211. (0 to disable tcp support)
          -s ip:port, set memcached server ip and port
          -b ip:port, set backup memcached server ip and port
          -l ip, local bind ip address, default is 0.0.0.0
          -n number, set max connections, default is 4096
          -D don't go to background
          -k use ketama key allocation algorithm
          -f file, unix socket path to listen on. default is off
          -i number, set max keep alive connections for one memcached server, default is 20
          -v verbose
          -t number, set worker threads, default is the number of cpus, at most 4
          -c file, read options from this configuration file (also --config), again on SIGHUP. default is none
          --legacy-ketama use magent 0.6's own -k key allocation, to migrate without moving keys
          --connect-timeout ms, set memcached connect timeout, default is 1000
          --request-timeout ms, set memcached reply timeout, default is 1000
          --failure-limit number, set failures in a row before a server is marked down, default is 2
          --miss-failover ask the backup on every miss, not only while a restarted server is refilled
          --refill-rate number, set keys per second copied into a restarted server, default is 5000
          --allow-control-keys accept keys with control bytes other than NUL, CR and LF, as memcached does
          --log-level level, error, notice (server state changes, reloads), info (as -v) or debug (as -vv), default is error
          --syslog send log lines to syslog too (facility daemon)
          --metrics-port port, serve Prometheus metrics at http://<address>:<port>/metrics, default is off
          --metrics-address ip, address for --metrics-port, default is the -l address
          --client-timeout ms, set how long a client may leave a request unfinished, default is 10000 (0 never)
          --max-value-size bytes, set the largest value accepted, default is 67108864
          --stats-format format, set what plain stats answers: matrix (the original's) or memcached (STAT lines for monitoring clients), default is matrix
          --drain-timeout ms, set how long SIGTERM lets open clients finish before exiting, default is 5000 (0 at once)
          --flush-all mode, all (flush_all empties every primary and backup) or refuse (answered with an error), default is all
          --state-dir dir, keep the keys each server missed in a journal there, so a restart still repairs them, default is off
          --kept-keys-limit number, set keys kept per server while it is away; past it the server is flushed and refilled, default is 100000

        """
    }
}
