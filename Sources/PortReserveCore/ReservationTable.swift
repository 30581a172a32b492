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

/// Owns every reserved socket. A port named by several services is held by one socket per
/// family and belongs to all of them; releasing any of them gives it up. Releases close in one
/// place, here, so "released" always means "closed".
public final class ReservationTable {
    private struct Reservation {
        let key: PortKey
        var owners: [String]
        var states: [AddressFamily: SocketState]
        var since: Int

        var isHeld: Bool {
            states.values.contains { if case .held = $0 { return true } else { return false } }
        }
    }

    private struct Service {
        let file: String
        var reservations: [Int]
        var released: Bool
    }

    public let families: [AddressFamily]
    private let bind: (PortKey, AddressFamily) throws(SystemError) -> CInt
    private let holderOf: (PortKey, AddressFamily) -> String?
    private var reservations: [Reservation] = []
    private var index: [PortKey: Int] = [:]
    private var services: [String: Service] = [:]
    /// These counts are kept up to date on every change, so the exit test and the STATUS= line
    /// after each release cost nothing, however large the table.
    public private(set) var heldSocketCount = 0
    private var heldPortCount = 0
    private var conflictCount = 0
    /// How many held ports each service still has a share in; a service leaves at zero.
    private var heldPortsPerService: [String: Int] = [:]

    public init(
        families: [AddressFamily],
        bind: @escaping (PortKey, AddressFamily) throws(SystemError) -> CInt = InternetSockets.reserve,
        holderOf: @escaping (PortKey, AddressFamily) -> String? = PortHolder.describe
    ) {
        self.families = families
        self.bind = bind
        self.holderOf = holderOf
    }

    deinit { closeAll() }

    /// The configured service names.
    public var serviceNames: [String] { services.keys.sorted() }

    /// Binds every port of `service` that no earlier service holds yet, and shares those that one does.
    public func add(_ service: ServiceConfiguration) -> [ReservationEvent] {
        var events: [ReservationEvent] = []
        var positions: [Int] = []
        let now = Self.now()
        for key in service.ports {
            if let position = index[key] {
                reservations[position].owners.append(service.name)
                if reservations[position].isHeld { heldPortsPerService[service.name, default: 0] += 1 }
                positions.append(position)
                events.append(.shared(service: service.name, key, with: reservations[position].owners[0]))
                continue
            }
            var states: [AddressFamily: SocketState] = [:]
            var held: [AddressFamily] = []
            for family in families {
                do {
                    let fd = try bind(key, family)
                    states[family] = .held(fd)
                    held.append(family)
                    heldSocketCount += 1
                } catch where error.errno == EADDRINUSE || error.errno == EACCES {
                    let holder = error.errno == EADDRINUSE ? holderOf(key, family) : nil
                    states[family] = .conflict(error, holder: holder)
                    conflictCount += 1
                    events.append(.conflict(service: service.name, key, family, error, holder: holder))
                } catch {
                    states[family] = .failed(error)
                    events.append(.failed(service: service.name, key, family, error))
                }
            }
            if !held.isEmpty {
                events.append(.reserved(service: service.name, key, families: held))
                heldPortCount += 1
                heldPortsPerService[service.name, default: 0] += 1
            }
            index[key] = reservations.count
            positions.append(reservations.count)
            reservations.append(Reservation(key: key, owners: [service.name], states: states, since: now))
        }
        services[service.name] = Service(file: service.file, reservations: positions, released: false)
        return events
    }

    /// Remembers `service` as released without binding anything: it was released earlier in this
    /// boot, so it must not take its ports again.
    public func addReleased(_ service: ServiceConfiguration) {
        services[service.name] = Service(file: service.file, reservations: [], released: true)
    }

    /// Closes every socket of `name`. Costs the service's own ports, not the size of the table.
    public func release(_ name: String) -> ReleaseResult {
        guard var service = services[name] else { return .unknown }
        service.released = true
        services[name] = service
        var closed: [PortKey] = []
        let now = Self.now()
        for position in service.reservations {
            var didClose = false
            for (family, state) in reservations[position].states {
                if case .held(let fd) = state {
                    closeDescriptor(fd)
                    heldSocketCount -= 1
                    didClose = true
                }
                if case .conflict = state { conflictCount -= 1 }
                if case .released = state { continue }
                reservations[position].states[family] = .released(by: name)
            }
            if didClose {
                closed.append(reservations[position].key)
                reservations[position].since = now
                heldPortCount -= 1
                for owner in reservations[position].owners {
                    heldPortsPerService[owner, default: 0] -= 1
                    if heldPortsPerService[owner] == 0 { heldPortsPerService[owner] = nil }
                }
            }
        }
        return closed.isEmpty ? .alreadyReleased : .released(closed)
    }

    /// Releases every service, in name order, as the original's `*` did.
    public func releaseAll() -> [(String, ReleaseResult)] {
        serviceNames.map { ($0, release($0)) }
    }

    /// Whether `name` was released (by its own request; a port shared with a released service may
    /// be gone while this is still false).
    public func isReleased(_ name: String) -> Bool? { services[name]?.released }

    /// Every row, sorted by service, port and family.
    public func status() -> [StatusRow] {
        var rows: [StatusRow] = []
        for (name, service) in services.sorted(by: { $0.key < $1.key }) {
            for position in service.reservations {
                let reservation = reservations[position]
                for (family, state) in reservation.states.sorted(by: { $0.key < $1.key }) {
                    rows.append(StatusRow(
                        service: name, port: reservation.key, family: family, state: state,
                        sharedWith: reservation.owners.filter { $0 != name }, since: reservation.since))
                }
            }
        }
        return rows
    }

    public func summary() -> ReservationSummary {
        ReservationSummary(ports: heldPortCount, services: heldPortsPerService.count, conflicts: conflictCount)
    }

    /// Closes everything, for shutdown.
    public func closeAll() {
        for position in reservations.indices {
            for (family, state) in reservations[position].states {
                if case .held(let fd) = state {
                    closeDescriptor(fd)
                    reservations[position].states[family] = .released(by: "shutdown")
                }
            }
        }
        heldSocketCount = 0
        heldPortCount = 0
        heldPortsPerService = [:]
    }

    private static func now() -> Int { Int(time(nil)) }
}
