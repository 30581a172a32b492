import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// What one family's socket of a reserved port is doing.
public enum SocketState: Equatable, Sendable {
    /// Bound by us, with this descriptor.
    case held(CInt)
    /// Another process had the port first; `holder` names it where /proc tells.
    case conflict(SystemError, holder: String?)
    /// We could not try: out of descriptors, or another local error.
    case failed(SystemError)
    /// Given up on request of `by`.
    case released(by: String)
}

/// Something the table did, for the daemon to log: the table itself never logs, so it can be used
/// and tested without a journal.
public enum ReservationEvent: Equatable, Sendable {
    case reserved(service: String, PortKey, families: [AddressFamily])
    case shared(service: String, PortKey, with: String)
    case conflict(service: String, PortKey, AddressFamily, SystemError, holder: String?)
    case failed(service: String, PortKey, AddressFamily, SystemError)
    /// No configured service names the port any more: its sockets were closed.
    case givenUp(service: String, PortKey)
}

/// The answer to one release, per service name.
public enum ReleaseResult: Equatable, Sendable {
    /// These ports were closed now, and are free when this value exists.
    case released([PortKey])
    /// The service is known, but nothing of it is held any more.
    case alreadyReleased
    /// No service of that name is configured.
    case unknown
}

/// The counts of the STATUS= line: ports held (a port counts once whatever its families),
/// services still holding something, and conflicts.
public struct ReservationSummary: Equatable, Sendable {
    public var ports = 0
    public var services = 0
    public var conflicts = 0

    public init(ports: Int = 0, services: Int = 0, conflicts: Int = 0) {
        self.ports = ports
        self.services = services
        self.conflicts = conflicts
    }
}

/// One row of the daemon's status: a service's port in one family.
public struct StatusRow: Equatable, Sendable {
    public let service: String
    public let port: PortKey
    public let family: AddressFamily
    public let state: SocketState
    /// The other services that named the same port.
    public let sharedWith: [String]
    /// Seconds since the epoch at which the state began.
    public let since: Int
}

/// The state of each family's socket of one port. Two optional fields, not a dictionary: a
/// dictionary per port was an allocation and two hashes per bind, a third of the table's cost at
/// start-up. Iterates in family order (IPv4, then IPv6), which is also the status order.
struct FamilyStates: Sequence, Equatable {
    private var ipv4: SocketState?
    private var ipv6: SocketState?

    subscript(family: AddressFamily) -> SocketState? {
        get { family == .ipv4 ? ipv4 : ipv6 }
        set { if family == .ipv4 { ipv4 = newValue } else { ipv6 = newValue } }
    }

    var isEmpty: Bool { ipv4 == nil && ipv6 == nil }

    struct Iterator: IteratorProtocol {
        fileprivate var states: FamilyStates
        fileprivate var upcoming: AddressFamily? = .ipv4

        mutating func next() -> (family: AddressFamily, state: SocketState)? {
            while let family = upcoming {
                upcoming = family == .ipv4 ? .ipv6 : nil
                if let state = states[family] { return (family, state) }
            }
            return nil
        }
    }

    func makeIterator() -> Iterator { Iterator(states: self) }

    func count(where isCounted: (SocketState) -> Bool) -> Int {
        (ipv4.map(isCounted) == true ? 1 : 0) + (ipv6.map(isCounted) == true ? 1 : 0)
    }
}

/// Owns every reserved socket. A port named by several services is held by one socket per
/// family and belongs to all of them; releasing any of them gives it up. Sockets are closed in
/// one place, here, so "released" always means "closed".
public final class ReservationTable {
    private struct Reservation {
        let key: PortKey
        /// The configured, not forgotten services that name the port (released ones included, for status).
        var owners: [String]
        var states: FamilyStates
        var since: Int

        // Counted in place, without building arrays: update() asks twice per change.
        var heldCount: Int {
            states.count { if case .held = $0 { true } else { false } }
        }
        var conflictCount: Int {
            states.count { if case .conflict = $0 { true } else { false } }
        }
        var isHeld: Bool { heldCount > 0 }
    }

    private struct Service {
        let file: String
        /// The ports its configuration names, in order.
        var ports: [PortKey]
        var released: Bool
    }

    public let families: [AddressFamily]
    /// Opens the socket for a port and family on behalf of a service (the service only names it).
    private let bind: (PortKey, AddressFamily, String) throws(SystemError) -> CInt
    private let holderOf: (PortKey, AddressFamily) -> String?
    /// Told about every socket closed by a release or because its port is no longer configured
    /// (not at shutdown), so the daemon can drop it from systemd's descriptor store too.
    public var onClose: ((PortKey, AddressFamily) -> Void)?
    /// The most sockets the table may hold; past it a bind fails as EMFILE would, before the
    /// process really runs out and cannot even talk to systemd.
    public var socketLimit = Int.max
    /// Told about the sockets of a port as soon as they are bound, with the service that named it.
    public var onBind: ((PortKey, [CInt], String) -> Void)?
    private var reservations: [PortKey: Reservation] = [:]
    private var services: [String: Service] = [:]

    // Kept up to date by `update`, the one place reservations change, so the exit test and the
    // STATUS= line after each release cost nothing, however large the table.
    public private(set) var heldSocketCount = 0
    private var heldPortCount = 0
    private var conflictCount = 0
    /// How many held ports each service has a share in; a service leaves the map at zero.
    private var heldPortsPerService: [String: Int] = [:]

    public init(
        families: [AddressFamily],
        bind: @escaping (PortKey, AddressFamily, String) throws(SystemError) -> CInt = { key, family, _ throws(SystemError) in
            try InternetSockets.reserve(key, family)
        },
        holderOf: @escaping (PortKey, AddressFamily) -> String? = PortHolder.describe
    ) {
        self.families = families
        self.bind = bind
        self.holderOf = holderOf
    }

    deinit { closeAll() }

    /// The configured service names.
    public var serviceNames: [String] { services.keys.sorted() }

    /// Makes room for `services` more services and `ports` more ports, so that a start-up of
    /// thousands of entries does not grow (and re-hash) the tables a dozen times.
    public func reserveCapacity(services: Int, ports: Int) {
        self.services.reserveCapacity(self.services.count + services)
        heldPortsPerService.reserveCapacity(heldPortsPerService.count + services)
        reservations.reserveCapacity(reservations.count + ports)
    }

    /// Whether `name` was released by its own request; nil when it is not configured.
    public func isReleased(_ name: String) -> Bool? { services[name]?.released }

    /// The file `name` was configured in.
    public func file(of name: String) -> String? { services[name]?.file }

    /// Binds every port of `service` that no other service holds yet, and shares those that one does.
    public func add(_ service: ServiceConfiguration) -> [ReservationEvent] {
        services[service.name] = Service(file: service.file, ports: service.ports, released: false)
        return service.ports.flatMap { take($0, for: service.name) }
    }

    /// Remembers `service` as released without binding anything: it was released earlier in this
    /// boot, so it must not take its ports again.
    /// Its ports are listed as released (shared with whoever else names them), so status looks
    /// the same before and after a restart.
    public func addReleased(_ service: ServiceConfiguration) {
        services[service.name] = Service(file: service.file, ports: service.ports, released: true)
        for port in service.ports {
            update(port) { reservation in
                reservation.owners.append(service.name)
                if reservation.states.isEmpty {
                    for family in families { reservation.states[family] = .released(by: service.name) }
                }
            }
        }
    }

    /// Brings a configured service to its new configuration: ports it no longer names are given up
    /// (unless another service names them), new ones are taken, and the others are not touched:
    /// an unchanged reservation is never closed and opened again. A released service stays released.
    public func update(_ service: ServiceConfiguration) -> [ReservationEvent] {
        guard let old = services[service.name] else { return add(service) }
        services[service.name] = Service(file: service.file, ports: service.ports, released: old.released)
        if old.released { return [] }
        let kept = Set(service.ports)
        var events = old.ports.filter { !kept.contains($0) }.flatMap { drop($0, from: service.name) }
        let had = Set(old.ports)
        events += service.ports.filter { !had.contains($0) }.flatMap { take($0, for: service.name) }
        return events
    }

    /// Removes `name` from the table: ports no other service names are closed.
    @discardableResult
    public func forget(_ name: String) -> [ReservationEvent] {
        guard let service = services.removeValue(forKey: name) else { return [] }
        return service.ports.flatMap { drop($0, from: name) }
    }

    /// Closes every socket of `name`. Costs the service's own ports, not the size of the table.
    public func release(_ name: String) -> ReleaseResult {
        guard services[name] != nil else { return .unknown }
        services[name]!.released = true
        var closed: [PortKey] = []
        for port in services[name]!.ports where reservations[port] != nil {
            if reservations[port]!.isHeld { closed.append(port) }
            update(port) { reservation in
                for (family, state) in reservation.states {
                    if case .released = state { continue }
                    if case .held(let fd) = state {
                        closeDescriptor(fd)
                        onClose?(port, family)
                        reservation.since = Self.now()
                    }
                    reservation.states[family] = .released(by: name)
                }
            }
        }
        return closed.isEmpty ? .alreadyReleased : .released(closed)
    }

    /// Releases every service, in name order, as the original's `*` did.
    public func releaseAll() -> [(String, ReleaseResult)] {
        serviceNames.map { ($0, release($0)) }
    }

    /// Every row, sorted by service, port and family.
    public func status() -> [StatusRow] {
        var rows: [StatusRow] = []
        for (name, service) in services.sorted(by: { $0.key < $1.key }) {
            for port in service.ports {
                guard let reservation = reservations[port], reservation.owners.contains(name) else { continue }
                for (family, state) in reservation.states {
                    rows.append(StatusRow(
                        service: name, port: port, family: family, state: state,
                        sharedWith: reservation.owners.filter { $0 != name }, since: reservation.since))
                }
            }
        }
        return rows
    }

    public func summary() -> ReservationSummary {
        ReservationSummary(ports: heldPortCount, services: heldPortsPerService.count, conflicts: conflictCount)
    }

    /// Closes everything, for shutdown. The descriptor store is not told: what systemd keeps
    /// there is what a restart takes back.
    public func closeAll() {
        for (port, reservation) in reservations {
            for (family, state) in reservation.states {
                guard case .held(let fd) = state else { continue }
                closeDescriptor(fd)
                reservations[port]!.states[family] = .released(by: "shutdown")
            }
        }
        heldSocketCount = 0
        heldPortCount = 0
        heldPortsPerService = [:]
    }

    /// `name` takes a share in `port`: shared when it is held, bound (again) otherwise.
    private func take(_ port: PortKey, for name: String) -> [ReservationEvent] {
        let existing = reservations[port]
        if let existing, existing.isHeld {
            update(port) { $0.owners.append(name) }
            return [.shared(service: name, port, with: existing.owners.first ?? name)]
        }
        var events: [ReservationEvent] = []
        var states = FamilyStates()
        var held: [AddressFamily] = []
        var heldDescriptors: [CInt] = []
        for family in families {
            do throws(SystemError) {
                if heldSocketCount + held.count >= socketLimit {
                    throw SystemError(call: "socket", subject: InternetSockets.describe(port, family), errno: EMFILE)
                }
                let fd = try bind(port, family, name)
                states[family] = .held(fd)
                held.append(family)
                heldDescriptors.append(fd)
            } catch where error.errno == EADDRINUSE || error.errno == EACCES {
                let holder = error.errno == EADDRINUSE ? holderOf(port, family) : nil
                states[family] = .conflict(error, holder: holder)
                events.append(.conflict(service: name, port, family, error, holder: holder))
            } catch {
                states[family] = .failed(error)
                events.append(.failed(service: name, port, family, error))
            }
        }
        if !held.isEmpty {
            events.append(.reserved(service: name, port, families: held))
            onBind?(port, heldDescriptors, name)
        }
        var owners = existing?.owners ?? []
        owners.append(name)
        update(port) { $0 = Reservation(key: port, owners: owners, states: states, since: Self.now()) }
        return events
    }

    /// `name` gives up its share in `port`; the last owner to go closes it.
    private func drop(_ port: PortKey, from name: String) -> [ReservationEvent] {
        guard let reservation = reservations[port] else { return [] }
        let owners = reservation.owners.filter { $0 != name }
        if !owners.isEmpty {
            update(port) { $0.owners = owners }
            return []
        }
        for (family, state) in reservation.states {
            if case .held(let fd) = state {
                closeDescriptor(fd)
                onClose?(port, family)
            }
        }
        update(port, remove: true) { _ in }
        return reservation.isHeld ? [.givenUp(service: name, port)] : []
    }

    /// The one place a reservation changes, so the counters can never drift from the table.
    /// Changes the reservation in place (no copy of it, one hash of the key), and counts only
    /// what changed: a release costs the service's own ports, whatever the size of the table.
    private func update(_ port: PortKey, remove: Bool = false, _ change: (inout Reservation) -> Void) {
        var heldBefore = 0, conflictsBefore = 0, ownersBefore: [String] = []
        var heldAfter = 0, conflictsAfter = 0, ownersAfter: [String] = []
        if let index = reservations.index(forKey: port) {
            let before = reservations.values[index]
            (heldBefore, conflictsBefore, ownersBefore) = (before.heldCount, before.conflictCount, before.owners)
            change(&reservations.values[index])
            if remove {
                reservations.remove(at: index)
            } else {
                let after = reservations.values[index]
                (heldAfter, conflictsAfter, ownersAfter) = (after.heldCount, after.conflictCount, after.owners)
            }
        } else {
            var reservation = Reservation(key: port, owners: [], states: FamilyStates(), since: Self.now())
            change(&reservation)
            if !remove {
                (heldAfter, conflictsAfter, ownersAfter) = (reservation.heldCount, reservation.conflictCount, reservation.owners)
                reservations[port] = reservation
            }
        }
        heldSocketCount += heldAfter - heldBefore
        conflictCount += conflictsAfter - conflictsBefore
        heldPortCount += (heldAfter > 0 ? 1 : 0) - (heldBefore > 0 ? 1 : 0)
        if heldBefore > 0 && heldAfter > 0 && ownersBefore == ownersAfter { return }
        if heldBefore > 0 {
            for owner in ownersBefore {
                heldPortsPerService[owner, default: 0] -= 1
                if heldPortsPerService[owner] == 0 { heldPortsPerService[owner] = nil }
            }
        }
        if heldAfter > 0 { for owner in ownersAfter { heldPortsPerService[owner, default: 0] += 1 } }
    }

    private static func now() -> Int { Int(time(nil)) }
}
