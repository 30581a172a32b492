import SystemCalls
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// One reserved socket's place: a port and protocol in one family.
public struct SocketSlot: Hashable, Sendable, CustomStringConvertible {
    public let key: PortKey
    public let family: AddressFamily

    public init(_ key: PortKey, _ family: AddressFamily) {
        self.key = key
        self.family = family
    }

    public var description: String { InternetSockets.describe(key, family) }
}

/// Copies of the reserved sockets in systemd's descriptor store, so that a restart of the daemon
/// (a package upgrade) never lets a port go: systemd holds them while the daemon is down and hands
/// them back at start (LISTEN_FDNAMES), and the new daemon adopts them instead of binding again.
///
/// A socket's store name is `SERVICE.PORT.PROTOCOL.FAMILY`, for example `cups.631.tcp.ipv6`.
/// Service names never hold a `.`; characters systemd refuses in a name (`:`, controls) are
/// %-escaped. Only the port, protocol and family are read back: which services a port belongs to
/// comes from the configuration.
final class DescriptorStore {
    private let manager: ServiceManaging
    private var names: [SocketSlot: String] = [:]
    private var adopted: [SocketSlot: (fd: CInt, name: String)] = [:]
    private var removedSinceBarrier = false

    init(manager: ServiceManaging) { self.manager = manager }

    static func name(for slot: SocketSlot, service: String) -> String {
        var escaped = ""
        for byte in service.utf8 {
            if byte < 0x21 || byte >= 0x7F || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "%") {
                let hex = String(byte, radix: 16, uppercase: true)
                escaped += "%" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        let suffix = ".\(slot.key.port).\(slot.key.transport.rawValue).\(slot.family.rawValue)"
        return String(escaped.prefix(255 - suffix.count)) + suffix
    }

    static func slot(named name: String) -> SocketSlot? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 4, let port = UInt16(parts[parts.count - 3]), port > 0,
              let transport = TransportProtocol(rawValue: String(parts[parts.count - 2])),
              let family = AddressFamily(rawValue: String(parts[parts.count - 1])) else { return nil }
        return SocketSlot(PortKey(port, transport), family)
    }

    /// Takes the descriptors systemd handed back. Returns one message per descriptor that is not
    /// what its name says (closed and dropped from the store).
    func adopt(_ passed: [ListenedDescriptor]) -> [String] {
        var rejected: [String] = []
        for descriptor in passed {
            guard let slot = Self.slot(named: descriptor.name), Self.isSocket(descriptor.fd, for: slot) else {
                rejected.append("dropping stored descriptor \(descriptor): not a socket bound as its name says")
                closeDescriptor(descriptor.fd)
                manager.notify([.fdStoreRemove(name: descriptor.name)])
                continue
            }
            if let duplicate = adopted[slot] {
                closeDescriptor(duplicate.fd)  // the same socket stored twice: keep one
            }
            adopted[slot] = (descriptor.fd, descriptor.name)
        }
        return rejected
    }

    /// The adopted socket for `slot`, if systemd kept one.
    func takeAdopted(_ slot: SocketSlot) -> CInt? {
        guard let entry = adopted.removeValue(forKey: slot) else { return nil }
        names[slot] = entry.name
        return entry.fd
    }

    /// Puts a newly bound socket in the store. FDPOLL=0: a bound, never-listened TCP socket polls
    /// as hung up, and systemd would drop it at once.
    func store(_ fd: CInt, _ slot: SocketSlot, service: String) {
        let name = Self.name(for: slot, service: service)
        names[slot] = name
        manager.notify([.fdStore(name: name, poll: false)], descriptors: [fd])
    }

    /// Drops a closed socket's copy from the store.
    func remove(_ slot: SocketSlot) {
        guard let name = names.removeValue(forKey: slot) else { return }
        manager.notify([.fdStoreRemove(name: name)])
        removedSinceBarrier = true
    }

    /// Closes what systemd handed back but nothing claimed (a service released or no longer
    /// configured), and drops it from the store. Returns the slots, for the log.
    func discardUnclaimed() -> [SocketSlot] {
        let unclaimed = adopted
        adopted = [:]
        for (_, entry) in unclaimed {
            closeDescriptor(entry.fd)
            manager.notify([.fdStoreRemove(name: entry.name)])
            removedSinceBarrier = true
        }
        return unclaimed.keys.sorted { ($0.key, $0.family) < ($1.key, $1.family) }
    }

    /// Waits until systemd has really closed the copies removed since the last call, so that a
    /// release is answered only when the port is free.
    func confirmRemovals() {
        guard removedSinceBarrier else { return }
        removedSinceBarrier = false
        manager.barrier()
    }

    /// Whether `fd` is an Internet socket of the slot's family and protocol, bound to its port.
    private static func isSocket(_ fd: CInt, for slot: SocketSlot) -> Bool {
        let type = slot.key.transport == .tcp ? CInt(SOCK_STREAM.rawValue) : CInt(SOCK_DGRAM.rawValue)
        let family = slot.family == .ipv4 ? AF_INET : AF_INET6
        guard DescriptorKind(of: fd) == .socket(family: family, type: type) else { return false }
        var address = sockaddr_in6()  // large enough for both; the port sits at the same offset
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return result == 0 && UInt16(bigEndian: address.sin6_port) == slot.key.port
    }
}
