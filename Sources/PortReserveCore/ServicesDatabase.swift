#if canImport(Glibc)
import PortReserveProtocol
import Glibc
#endif

/// Looks a service name up in the services database (`/etc/services` and whatever NSS adds), the
/// way the original did, so configuration files written for it mean the same ports.
public struct ServicesDatabase: Sendable {
    private let lookup: @Sendable (String, TransportProtocol) -> UInt16?
    private let makeSnapshot: (@Sendable () -> ServicesDatabase)?

    /// A database answering from `lookup`, for tests that must not depend on the machine's files.
    public init(lookup: @escaping @Sendable (String, TransportProtocol) -> UInt16?) {
        self.lookup = lookup
        self.makeSnapshot = nil
    }

    private init(lookup: @escaping @Sendable (String, TransportProtocol) -> UInt16?, snapshot: @escaping @Sendable () -> ServicesDatabase) {
        self.lookup = lookup
        self.makeSnapshot = snapshot
    }

    /// The system's database, through `getservbyname_r(3)`, one call per name.
    public static let system = ServicesDatabase(lookup: { lookUpOne($0, $1) }, snapshot: {
        let table = ServicesTable()
        return ServicesDatabase { name, transport in table.port(of: name, transport) }
    })

    /// The database for one configuration load. For the system's database it reads the whole
    /// database once, at the first name asked, and answers from memory: glibc's
    /// `getservbyname_r` parses /etc/services from the top for every call, which made 100 named
    /// entries cost more than binding 4,000 sockets. Each load takes a fresh snapshot, so a reload
    /// sees an edited /etc/services.
    public func snapshot() -> ServicesDatabase { makeSnapshot?() ?? self }

    /// The port of `name` for `transport`, or nil when the database has no such service.
    public func port(of name: String, _ transport: TransportProtocol) -> UInt16? { lookup(name, transport) }

    /// `transport` nil: any protocol, as `getservbyname(name, NULL)` answers.
    @Sendable static func lookUpOne(_ name: String, _ transport: TransportProtocol?) -> UInt16? {
        var entry = servent()
        var result: UnsafeMutablePointer<servent>?
        var buffer = [CChar](repeating: 0, count: 1024)
        while true {
            let status = getservbyname_r(name, transport?.rawValue, &entry, &buffer, buffer.count, &result)
            if status == ERANGE && buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            guard status == 0, result != nil else { return nil }
            return UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.s_port))
        }
    }
}

/// Every entry of the services database, enumerated once with `getservent_r(3)`. The first entry
/// for a name and protocol wins, aliases included, as `getservbyname` would answer. A name the
/// enumeration did not list at all is still asked one by one: an NSS source may answer look-ups
/// without listing its entries. A listed name missing for one protocol (ipp has no udp entry) is
/// not asked again: that miss was the slowest look-up of all, a parse of the whole file.
///
/// `@unchecked Sendable`: it is filled and read by the one thread that loads the configuration,
/// and getservent's position in the database is process-global state no two threads may share.
final class ServicesTable: @unchecked Sendable {
    private var listed: (ports: [String: UInt16], names: Set<String>)?
    /// Names the enumeration did not list, with NSS's answer: a name nobody knows costs one
    /// look-up for any protocol (one parse of /etc/services), once per load, not one per protocol.
    private var unlisted: [String: Bool] = [:]

    func port(of name: String, _ transport: TransportProtocol) -> UInt16? {
        if listed == nil { listed = Self.enumerate() }
        if let port = listed!.ports[Self.key(name, transport.rawValue)] { return port }
        if listed!.names.contains(name) { return nil }
        if unlisted[name] == nil { unlisted[name] = ServicesDatabase.lookUpOne(name, nil) != nil }
        return unlisted[name]! ? ServicesDatabase.lookUpOne(name, transport) : nil
    }

    private static func key(_ name: String, _ transport: String) -> String { name + "/" + transport }

    private static func enumerate() -> (ports: [String: UInt16], names: Set<String>) {
        var ports: [String: UInt16] = [:]
        var allNames = Set<String>()
        var entry = servent()
        var result: UnsafeMutablePointer<servent>?
        var buffer = [CChar](repeating: 0, count: 4096)
        setservent(0)
        defer { endservent() }
        while true {
            let status = getservent_r(&entry, &buffer, buffer.count, &result)
            if status == ERANGE && buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            guard status == 0, result != nil, let proto = entry.s_proto else { break }
            let transport = String(cString: proto)
            let port = UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.s_port))
            var names = entry.s_name.map { [String(cString: $0)] } ?? []
            var alias = entry.s_aliases
            while let current = alias?.pointee {
                names.append(String(cString: current))
                alias = alias! + 1
            }
            for name in names where ports[key(name, transport)] == nil { ports[key(name, transport)] = port }
            allNames.formUnion(names)
        }
        return (ports, allNames)
    }
}
