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
    /// The one reading of a port number, wherever one is written (configuration lines, replies,
    /// the status file, descriptor names): decimal digits only, leading zeros allowed, 1-65535.
    public static func number(_ digits: some Collection<UInt8>) -> UInt16? {
        guard !digits.isEmpty else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            if value <= 65535 { value = value * 10 + Int(byte - UInt8(ascii: "0")) }  // past it, stops counting
        }
        return (1...65535).contains(value) ? UInt16(value) : nil
    }

    /// Parses "631/tcp" from its bytes.
    public init?(bytes: ArraySlice<UInt8>) {
        guard let slash = bytes.firstIndex(of: UInt8(ascii: "/")), let port = Self.number(bytes[..<slash]) else { return nil }
        let name = bytes[(slash + 1)...]
        guard let transport = TransportProtocol.allCases.first(where: { name.elementsEqual($0.rawValue.utf8) }) else { return nil }
        self.init(port, transport)
    }

    /// Parses "631/tcp".
    public init?(_ text: Substring) { self.init(bytes: ArraySlice(text.utf8)) }
}

/// One reserved socket: a port and protocol in one family. Reservations are counted in sockets,
/// not ports: a port held in IPv6 alone is not held.
public struct SocketSlot: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let key: PortKey
    public let family: AddressFamily

    public init(_ key: PortKey, _ family: AddressFamily) {
        self.key = key
        self.family = family
    }

    /// "0.0.0.0:631/tcp" or "[::]:631/tcp", as messages name a socket.
    public var description: String { (family == .ipv4 ? "0.0.0.0:" : "[::]:") + key.description }

    /// "631/tcp/ipv4", as the control socket's replies carry it.
    public var wireName: String { "\(key)/\(family.rawValue)" }

    /// Parses `wireName`.
    public init?(wireName text: Substring) {
        guard let slash = text.lastIndex(of: "/"), let key = PortKey(text[..<slash]),
              let family = AddressFamily(rawValue: String(text[text.index(after: slash)...])) else { return nil }
        self.init(key, family)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.key, lhs.family) < (rhs.key, rhs.family) }
}
