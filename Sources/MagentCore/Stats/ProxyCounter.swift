// The proxy-wide events `stats proxy` and /metrics report, each with its
// name in both outputs and a line saying what it counts.

public enum ProxyCounter: Int, CaseIterable, Sendable {
    case totalConnections
    case rejectedConnections
    case getKeys
    case getHits
    case bytesRead
    case bytesWritten
    case backupReads
    case missFailoverHits
    case writesToBackup
    case binaryRequests
    case clientErrors
    case lineTooLong
    case valueTooLarge
    case outputOverflowDisconnects
    case stalledValuesDropped
    case staleReplies

    /// The STAT name (and the metric name after `magent_`, with `_total`).
    public var name: String {
        switch self {
        case .totalConnections: return "total_connections"
        case .rejectedConnections: return "rejected_connections"
        case .getKeys: return "get_keys"
        case .getHits: return "get_hits"
        case .bytesRead: return "bytes_read"
        case .bytesWritten: return "bytes_written"
        case .backupReads: return "backup_reads"
        case .missFailoverHits: return "miss_failover_hits"
        case .writesToBackup: return "writes_to_backup"
        case .binaryRequests: return "binary_requests"
        case .clientErrors: return "client_errors"
        case .lineTooLong: return "line_too_long"
        case .valueTooLarge: return "value_too_large"
        case .outputOverflowDisconnects: return "output_overflow_disconnects"
        case .stalledValuesDropped: return "stalled_values_dropped"
        case .staleReplies: return "stale_replies"
        }
    }

    /// The Prometheus metric name after `magent_`.
    public var metricName: String {
        switch self {
        case .totalConnections: return "connections_accepted_total"
        case .rejectedConnections: return "connections_rejected_total"
        default: return name + "_total"
        }
    }

    /// The metric's HELP text.
    public var help: String {
        switch self {
        case .totalConnections: return "Client connections accepted since start (TCP and unix)."
        case .rejectedConnections: return "Client connections refused because -n connections were open."
        case .getKeys: return "Keys asked for by get, gets, gat and gats."
        case .getHits: return "VALUE blocks returned to clients (from primary, backup or miss failover)."
        case .bytesRead: return "Bytes read from clients."
        case .bytesWritten: return "Bytes written to clients."
        case .backupReads: return "Retrievals sent to the backup because the primary was down or failed."
        case .missFailoverHits: return "Keys a primary missed and the backup had (miss failover, written back)."
        case .writesToBackup: return "Writes sent to the backup alone because the primary was down or unreachable."
        case .binaryRequests: return "Binary-protocol requests; those sent on to a server also count as the meta command they became."
        case .clientErrors: return "Requests refused without reaching a backend (ERROR or CLIENT_ERROR replies)."
        case .lineTooLong: return "Clients disconnected for a command line over the length limit."
        case .valueTooLarge: return "Binary-protocol packets refused for a body over the size limit."
        case .outputOverflowDisconnects: return "Clients disconnected for leaving too many reply bytes unread."
        case .stalledValuesDropped: return "Values dropped because the client stopped sending in the middle of one."
        case .staleReplies: return "Backend replies for a request whose job had already finished, dropped (0 unless something is wrong)."
        }
    }
}

/// Per backend server, per worker.
public enum ServerCounter: Int, CaseIterable, Sendable {
    /// Requests sent (queued on a connection).
    case requests
    /// Requests that got no reply: the connection failed or timed out first.
    case failedRequests
    /// Connection failures other than timeouts: refused, reset, garbled reply.
    case errors
    /// Connect or reply deadlines missed.
    case timeouts
    /// Connections opened since start.
    case connects
    /// Connections open now (a gauge: +1 on open, -1 on close).
    case openConnections

    public var name: String {
        switch self {
        case .requests: return "requests"
        case .failedRequests: return "failed_requests"
        case .errors: return "errors"
        case .timeouts: return "timeouts"
        case .connects: return "connects"
        case .openConnections: return "connections"
        }
    }

    public var help: String {
        switch self {
        case .requests: return "Requests sent to the server."
        case .failedRequests: return "Requests that got no reply because the connection failed or timed out."
        case .errors: return "Connection failures other than timeouts (refused, reset, garbled reply)."
        case .timeouts: return "Connect or reply deadlines missed."
        case .connects: return "Connections opened to the server."
        case .openConnections: return "Connections to the server open now."
        }
    }
}
