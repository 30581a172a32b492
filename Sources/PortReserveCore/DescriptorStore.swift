import PortReserveProtocol
import SystemCalls
import SystemPackage
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// Copies of the reserved sockets in systemd's descriptor store, so that a restart of the daemon
/// (a package upgrade) never lets a port go: systemd holds them while the daemon is down and hands
/// them back at start (LISTEN_FDNAMES), and the new daemon adopts them instead of binding again.
///
/// The sockets of one port and protocol (IPv4 and IPv6) travel in one message under one name,
/// `SERVICE.PORT.PROTOCOL`, for example `cups.631.tcp`: they are always closed together, so one
/// FDSTOREREMOVE drops both, and one message instead of two halves the cost at start. Service names
/// never hold a `.`; characters systemd refuses in a name (`:`, controls) are %-escaped. Only the
/// port and protocol are read back, and the family from the socket itself: which services a port
/// belongs to comes from the configuration.
///
/// The store is capped (`limit`, default 1,024 sockets): systemd 252 compares every descriptor it
/// is handed with every one it holds (kcmp(2)), so its cost grows with the square of the count.
/// Measured under systemd 252 at boot: 4,000 sockets cost PID 1 2.2 s of CPU, 19,600 cost 51 s.
/// Sockets past the cap are held all the same, but a restart binds them again, with a moment in
/// between where their ports are free.
final class DescriptorStore {
    private let manager: ServiceManaging
    let limit: Int
    private(set) var storedCount = 0
    /// Sockets left out of the store because of `limit`, since the start.
    private(set) var leftOut = 0

    /// The name the copies of one port and protocol are stored under. The name this daemon
    /// gives is built again from the service when it is needed (at removal): the service's
    /// string is the table's, so nothing is allocated per port. Only a name systemd handed back
    /// that is not the one this daemon would give (another version's) is kept whole.
    private enum StoredName {
        case given(service: String)
        case handedBack(String)
    }

    /// What systemd's store holds of one port and protocol: its name, and how many copies (one
    /// per family), to keep `storedCount` right.
    private struct Stored {
        var name: StoredName
        var count: Int32
    }

    private var stored: [PortKey: Stored] = [:]
    private var adopted: [SocketSlot: (fd: CInt, name: String)] = [:]
    /// Taken back and held again, so already in the store: `store` skips each once, as the
    /// table's events bring it.
    private var handedBack: [CInt: SocketSlot] = [:]
    private var removedSinceBarrier = false

    init(manager: ServiceManaging, limit: Int) {
        self.manager = manager
        self.limit = max(0, limit)
    }

    static func name(for key: PortKey, service: String) -> String {
        let suffix = ".\(key.port).\(key.transport.rawValue)"
        // Built again at every removal: a name with nothing to escape is joined as it is.
        if service.utf8.count <= 255 - suffix.utf8.count && !service.utf8.contains(where: needsEscape) {
            return service + suffix
        }
        var escaped = ""
        for byte in service.utf8 {
            if needsEscape(byte) {
                let hex = String(byte, radix: 16, uppercase: true)
                escaped += "%" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return String(escaped.prefix(255 - suffix.count)) + suffix
    }

    /// What systemd refuses in a name (`:`, controls, non-ASCII), and the escape character itself.
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x21 || byte >= 0x7F || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "%")
    }

    static func key(named name: String) -> PortKey? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3, let port = PortKey.number(parts[parts.count - 2].utf8),
              let transport = TransportProtocol(rawValue: String(parts[parts.count - 1])) else { return nil }
        return PortKey(port, transport)
    }

    /// Takes the descriptors systemd handed back. Returns one message per descriptor that is not
    /// what its name says (closed, and its name dropped from the store).
    func adopt(_ passed: [ListenedDescriptor]) -> [String] {
        var rejected: [String] = []
        for descriptor in passed {
            guard let key = Self.key(named: descriptor.name), let family = Self.family(of: descriptor.fd.rawValue, for: key) else {
                rejected.append("dropping stored descriptor \(descriptor): not a socket bound as its name says")
                closeDescriptor(descriptor.fd.rawValue)
                manager.notify([.fdStoreRemove(name: descriptor.name)])
                continue
            }
            let slot = SocketSlot(key, family)
            if let duplicate = adopted[slot] {
                closeDescriptor(duplicate.fd)  // stored twice: keep one
            } else {
                stored[key, default: Stored(name: .handedBack(descriptor.name), count: 0)].count += 1
                storedCount += 1
            }
            adopted[slot] = (descriptor.fd.rawValue, descriptor.name)
        }
        return rejected
    }

    /// The adopted socket for `slot`, if systemd kept one, taken for `service`.
    func takeAdopted(_ slot: SocketSlot, for service: String) -> CInt? {
        guard !adopted.isEmpty, let entry = adopted.removeValue(forKey: slot) else { return nil }
        stored[slot.key]?.name = entry.name == Self.name(for: slot.key, service: service) ? .given(service: service) : .handedBack(entry.name)
        handedBack[entry.fd] = slot
        return entry.fd
    }

    private static func name(of stored: Stored, _ key: PortKey) -> String {
        switch stored.name {
        case .given(let service): name(for: key, service: service)
        case .handedBack(let name): name
        }
    }

    /// Puts the newly bound sockets of `key` in the store (those systemd handed back are there
    /// already). FDPOLL=0: a bound, never-listened TCP socket polls as hung up, and systemd would
    /// drop it at once.
    func store(_ fds: [CInt], _ key: PortKey, service: String) {
        guard manager.isListening else { return }
        let fresh = handedBack.isEmpty ? fds : fds.filter { handedBack.removeValue(forKey: $0) == nil }
        guard !fresh.isEmpty else { return }
        guard storedCount + fresh.count <= limit else {
            leftOut += fresh.count
            return
        }
        storedCount += fresh.count
        if stored[key] == nil { stored[key] = Stored(name: .given(service: service), count: 0) }
        let index = stored.index(forKey: key)!
        stored.values[index].count += Int32(fresh.count)
        manager.notify([.fdStore(name: Self.name(of: stored.values[index], key), poll: false)], descriptors: fresh)
    }

    /// Drops a closed port's copies from the store.
    func remove(_ key: PortKey) {
        guard let entry = stored.removeValue(forKey: key) else { return }
        storedCount -= Int(entry.count)
        manager.notify([.fdStoreRemove(name: Self.name(of: entry, key))])
        removedSinceBarrier = true
    }

    /// Closes what systemd handed back but nothing claimed (a service released or no longer
    /// configured), and drops it from the store. Returns the slots, for the log.
    /// A name dropped this way drops every copy under it: the claimed sockets that shared it
    /// (the other family of a port) are stored again as new, when the table's events bring them.
    func discardUnclaimed() -> [SocketSlot] {
        let unclaimed = adopted
        adopted = [:]
        var dropped = Set<String>()
        for (slot, entry) in unclaimed {
            closeDescriptor(entry.fd)
            uncount(slot.key)
            if dropped.insert(entry.name).inserted { manager.notify([.fdStoreRemove(name: entry.name)]) }
            removedSinceBarrier = true
        }
        if !dropped.isEmpty {
            for (fd, slot) in handedBack {
                guard let entry = stored[slot.key], dropped.contains(Self.name(of: entry, slot.key)) else { continue }
                handedBack[fd] = nil
                uncount(slot.key)
            }
        }
        return unclaimed.keys.sorted { ($0.key, $0.family) < ($1.key, $1.family) }
    }

    private func uncount(_ key: PortKey) {
        storedCount -= 1
        guard let index = stored.index(forKey: key) else { return }
        stored.values[index].count -= 1
        if stored.values[index].count <= 0 { stored.remove(at: index) }
    }

    /// Waits until systemd has really closed the copies removed since the last call, so that a
    /// release is answered only when the port is free.
    func confirmRemovals() {
        guard removedSinceBarrier else { return }
        removedSinceBarrier = false
        manager.barrier()
    }

    /// The family of `fd` when it is an Internet socket of `key`'s protocol bound to its port.
    private static func family(of fd: CInt, for key: PortKey) -> AddressFamily? {
        let type = key.transport == .tcp ? CInt(SOCK_STREAM.rawValue) : CInt(SOCK_DGRAM.rawValue)
        if SocketActivation.isInternetSocket(FileDescriptor(rawValue: fd), family: AF_INET, type: type, port: key.port) { return .ipv4 }
        if SocketActivation.isInternetSocket(FileDescriptor(rawValue: fd), family: AF_INET6, type: type, port: key.port) { return .ipv6 }
        return nil
    }
}
