// Sizes the protocol code bounds itself by: keys, command lines, backend lines.

public enum ProtocolLimits {
    /// memcached's KEY_MAX_LENGTH.
    public static let maxKeyLength = 250
    /// The longest command line other than a retrieval (memcached allows 2048; we take more).
    public static let maxCommandLine = 16 * 1024
    /// A get/gets/gat/gats line may carry thousands of keys.
    public static let maxRetrievalLine = 4 * 1024 * 1024
    /// The longest single reply line a backend may send (VALUE header, error text).
    public static let maxBackendLine = 8 * 1024
}

/// How much a client may leave unread before the proxy stops reading its
/// requests, and before it is disconnected.
public enum ClientLimits {
    public static let pauseReadingAbove = 4 * 1024 * 1024
    public static let resumeReadingBelow = 1024 * 1024
    public static let maxPendingOutput = 32 * 1024 * 1024
}
