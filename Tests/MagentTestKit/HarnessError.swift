// The one error the kit throws: a sentence saying what went wrong, with the
// bytes, exit status or log that shows why.

/// A harness failure with enough context to see what went wrong.
public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
