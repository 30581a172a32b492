import PortReserveProtocol

/// A problem in the configuration, reported as `FILE:LINE: message` (or `FILE: message` for the
/// whole file) and skipped: the rest of the configuration still counts.
public struct ConfigurationProblem: Equatable, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// The file name escaped (`printable`): a name with a newline or bytes that are not UTF-8
    /// still reads as one `FILE:LINE:` prefix.
    public var description: String {
        line.map { "\(printable(file)):\($0): \(message)" } ?? "\(printable(file)): \(message)"
    }
}
