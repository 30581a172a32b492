/// A transport protocol a port can be reserved for.
public enum TransportProtocol: String, CaseIterable, Comparable, Sendable {
    case tcp, udp

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The address families a port is held in: each protocol's port space is separate per family
/// (an IPv6 socket with IPV6_V6ONLY does not hold the IPv4 port), so each needs its own socket.
public enum AddressFamily: String, CaseIterable, Comparable, Sendable {
    case ipv4, ipv6

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One port of one protocol, such as 631/tcp: the unit that is bound, shared and released.
public struct PortKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let port: UInt16
    public let transport: TransportProtocol

    public init(_ port: UInt16, _ transport: TransportProtocol) {
        self.port = port
        self.transport = transport
    }

    public var description: String { "\(port)/\(transport.rawValue)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.port, lhs.transport) < (rhs.port, rhs.transport)
    }
}

extension PortKey {
    /// Parses "631/tcp".
    public init?(_ text: Substring) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let port = UInt16(parts[0]), port > 0,
              let transport = TransportProtocol(rawValue: String(parts[1])) else { return nil }
        self.init(port, transport)
    }
}
