#if canImport(Glibc)
import Glibc
#endif

/// Looks a service name up in the services database (`/etc/services` and whatever NSS adds), the
/// way the original did, so configuration files written for it mean the same ports.
public struct ServicesDatabase: Sendable {
    private let lookup: @Sendable (String, TransportProtocol) -> UInt16?

    /// A database answering from `lookup`, for tests that must not depend on the machine's files.
    public init(lookup: @escaping @Sendable (String, TransportProtocol) -> UInt16?) {
        self.lookup = lookup
    }

    /// The system's database, through `getservbyname_r(3)`.
    public static let system = ServicesDatabase { name, transport in
        var entry = servent()
        var result: UnsafeMutablePointer<servent>?
        var buffer = [CChar](repeating: 0, count: 1024)
        while true {
            let status = getservbyname_r(name, transport.rawValue, &entry, &buffer, buffer.count, &result)
            if status == ERANGE && buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            guard status == 0, result != nil else { return nil }
            return UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.s_port))
        }
    }

    /// The port of `name` for `transport`, or nil when the database has no such service.
    public func port(of name: String, _ transport: TransportProtocol) -> UInt16? { lookup(name, transport) }
}
