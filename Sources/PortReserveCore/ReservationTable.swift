import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// What one family's socket of a reserved port is doing.
public enum SocketState: Equatable, Sendable {
    /// Bound by us, with this descriptor.
    case held(CInt)
    /// Another process had the port first; `holder` names it once `nameHolders` has looked, where
    /// /proc tells. Tried again.
    ///
    /// The three cases with text are `indirect`: boxed, a state is 9 bytes instead of 56. Inline,
    /// they made the reservations' table of 1,000 entries 574 KB (massif), for text that most
    /// sockets never carry.
    indirect case conflict(SystemError, holder: String?)
    /// We could not try: out of descriptors, or another local error. Tried again.
    indirect case failed(SystemError)
    /// Given up on request of the service `by`, asked from `unit` when the requester was in one.
    indirect case released(by: String, unit: String?)

    /// Not held, and not meant to be given up: the table keeps trying to bind it.
    public var isRetried: Bool {
        switch self {
        case .conflict, .failed: true
        case .held, .released: false
        }
    }
}

/// One socket the table has just bound (or taken back from systemd's store).
public struct HeldSocket: Equatable, Sendable {
    public let family: AddressFamily
    public let descriptor: CInt

    public init(_ family: AddressFamily, _ descriptor: CInt) {
        self.family = family
        self.descriptor = descriptor
    }
}

/// Something the table did. The table only returns what happened and calls nobody: the daemon
/// forwards each event to systemd's descriptor store and to the journal, so the table can be used
/// and tested without either.
public enum ReservationEvent: Equatable, Sendable {
    /// These sockets of the port are bound now, for `service`: the daemon stores copies of them.
    case reserved(service: String, PortKey, sockets: [HeldSocket])
    case shared(service: String, PortKey, with: String)
    /// The port is taken: who has it is looked up for a whole batch at once (`nameHolders`).
    case conflict(service: String, PortKey, AddressFamily, SystemError)
    case failed(service: String, PortKey, AddressFamily, SystemError)
    /// A socket that could not be bound before is held now, after `attempts` tries.
    case heldAgain(service: String, SocketSlot, descriptor: CInt, attempts: Int)
    /// No configured service names the port any more: its sockets were closed.
    case givenUp(service: String, PortKey)
    /// The port's sockets were closed because `released`, a service that names it too, was
    /// released earlier in this boot (it came back to the configuration, or came to name the port).
    case releasedWith(released: String, PortKey)
}

extension ReservationEvent {
    /// The families a `.reserved` event holds, in order; empty for the others.
    public var families: [AddressFamily] {
        if case .reserved(_, _, let sockets) = self { sockets.map(\.family) } else { [] }
    }
}

/// The answer to one release, per service name.
public enum ReleaseResult: Equatable, Sendable {
    /// These ports were closed now (the daemon drops their copies from systemd's store).
    case released([PortKey])
    /// The service is known, but nothing of it is held any more.
    case alreadyReleased
    /// No service of that name is configured.
    case unknown
}

/// One row of the daemon's status: a service's port in one family.
public struct StatusRow: Equatable, Sendable {
    /// The row as the status file carries it (`StatusFile`).
    public var published: StatusFile.Row {
        let (status, detail): (StatusFile.SocketStatus, String?)
        switch state {
        case .held: (status, detail) = (.held, nil)
        case .conflict(let error, let holder): (status, detail) = (.retrying, "conflict: " + error.reason + (holder.map { "; held by " + $0 } ?? ""))
        case .failed(let error): (status, detail) = (.retrying, "failed: " + error.reason)
        case .released(let by, let unit): (status, detail) = (.released, by + (unit.map { " " + $0 } ?? ""))
        }
        return StatusFile.Row(service: service, port: port, family: family, status: status, since: since,
                              sharedWith: sharedWith, detail: detail)
    }

    public let service: String
    public let port: PortKey
    public let family: AddressFamily
    public let state: SocketState
    /// The other services that named the same port.
    public let sharedWith: [String]
    /// Seconds since the epoch at which the state began (for a retried socket, its first failure).
    public let since: Int
}

/// How a socket that could not be bound is tried again: soon at first (a TIME_WAIT or a holder
/// that is exiting clears in seconds), then every 15 s, so a port held for good by someone else
/// costs one bind attempt per 15 s.
public struct RetrySchedule: Equatable, Sendable {
    /// Milliseconds to wait after the nth failure (the last repeats).
    public var delays: [Int] = [1_000, 2_000, 4_000, 8_000, 15_000]

    public init(delays: [Int] = [1_000, 2_000, 4_000, 8_000, 15_000]) { self.delays = delays }

    func delay(afterFailure attempts: Int) -> Int { delays[min(max(attempts, 1), delays.count) - 1] }
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
///
/// One rule decides whether a port is held, whatever the order of the changes that led there:
/// while some configured service names it, it is held if none of them is released, and given up
/// if one is. So a restart, which builds the table again from the files and the record of
/// releases, holds exactly what the daemon before it held.
final class ReservationTable {
    /// A bucket of the largest table: 48 bytes, six words (a test pins it). It does not repeat
    /// its key, which the dictionary holds: that was 8 bytes more in every bucket, 32 KB at
    /// 1,000 entries. Its owners are inline (`PortOwners`, 24 bytes): 16 more per port than an
    /// array reference, and at 1,000 entries 130 KB less in all (the heap blocks they replace
    /// kept pages resident).
    struct Reservation {
        /// The configured, not forgotten services that name the port (released ones included, for status).
        var owners: PortOwners
        var states: FamilyStates
        var since: Int

        // Counted in place, without building arrays: update() asks twice per change.
        var heldCount: Int {
            states.count { if case .held = $0 { true } else { false } }
        }
        var retriedCount: Int { states.count(where: \.isRetried) }
        var isHeld: Bool { heldCount > 0 }
        var counts: (held: Int, retried: Int, owners: PortOwners) { (heldCount, retriedCount, owners) }
    }

    private struct Service {
        /// The ports its configuration names, in order.
        var ports: PortList
        var released: Bool
        /// How many held ports it has a share in, for the count of services in the STATUS= line.
        /// Here rather than in a table of its own: a Service had room for it in its 16 bytes.
        var heldPorts: Int32 = 0
    }

    let families: [AddressFamily]
    /// Opens the socket for a port and family on behalf of a service (the service only names it).
    private let bind: (PortKey, AddressFamily, String) throws(SystemError) -> CInt
    /// Sockets that met a port in use on their first try and whose holder has not been looked for.
    private var unnamedConflicts: [SocketSlot] = []
    /// The most sockets the table may hold; past it a bind fails as EMFILE would, before the
    /// process really runs out and cannot even talk to systemd.
    var socketLimit = Int.max
    private var reservations: [PortKey: Reservation] = [:]
    /// In name order: status is published after every batch of requests and walks them all.
    private var services = SortedByName<Service>()

    /// A socket not held, waiting for its next bind attempt.
    private struct Retry {
        var attempts: Int
        /// When to try again, in milliseconds of `clock`.
        var due: Int
        /// When it first failed, in seconds since the epoch, for status.
        let since: Int
    }
    private var retries: [SocketSlot: Retry] = [:]
    var retrySchedule = RetrySchedule()
    /// Milliseconds on a clock that only goes forward; settable for tests.
    var clock: () -> Int = { monotonicMilliseconds() }

    // Kept up to date by `update`, the one place reservations change, so the exit test and the
    // STATUS= line after each release cost nothing, however large the table.
    private(set) var heldSocketCount = 0
    private var heldPortCount = 0
    private var retriedCount = 0
    /// The services with a share in at least one held port.
    private var servicesHoldingPorts = 0

    init(
        families: [AddressFamily],
        bind: @escaping (PortKey, AddressFamily, String) throws(SystemError) -> CInt = { key, family, _ throws(SystemError) in
            try InternetSockets.reserve(key, family)
        }
    ) {
        self.families = families
        self.bind = bind
    }

    deinit { closeAll() }

    /// The configured service names, in order.
    var serviceNames: [String] { services.names }

    /// Makes room for `services` more services and `ports` more ports, so that a start-up of
    /// thousands of entries does not grow (and re-hash) the tables a dozen times.
    func reserveCapacity(services: Int, ports: Int) {
        self.services.reserveCapacity(services)
        reservations.reserveCapacity(reservations.count + ports)
    }

    /// Whether `name` was released by its own request; nil when it is not configured.
    func isReleased(_ name: String) -> Bool? { services[name]?.released }

    /// Binds every port of `service` that no other service holds yet, and shares those that one does.
    func add(_ service: ServiceConfiguration) -> [ReservationEvent] {
        services[service.name] = Service(ports: PortList(service.ports), released: false)
        return service.ports.flatMap { take($0, for: service.name) }
    }

    /// Remembers `service` as released without binding anything: it was released earlier in this
    /// boot, so it must not take its ports again.
    /// Its ports are listed as released (shared with whoever else names them), so status looks
    /// the same before and after a restart.
    /// A port it shares with services that hold it is given up (`.releasedWith`); adding the
    /// released services first, as start-up does, binds nothing only to close it.
    @discardableResult
    func addReleased(_ service: ServiceConfiguration) -> [ReservationEvent] {
        services[service.name] = Service(ports: PortList(service.ports), released: true)
        return service.ports.compactMap { join($0, released: service.name) }
    }

    /// The released service `name` names `port` too: an owner that holds nothing of it, and by
    /// the table's rule the port is given up, if it was held or being tried for others.
    private func join(_ port: PortKey, released name: String) -> ReservationEvent? {
        var closed = false
        update(port) { reservation in
            if !reservation.owners.contains(name) { reservation.owners.append(name) }
            closed = giveUp(&reservation, of: port, releasedBy: name, unit: nil)
        }
        return closed ? .releasedWith(released: name, port) : nil
    }

    /// Gives `port` up for the released service `name` (asked from `unit`): its sockets closed,
    /// its retries stopped, every family listed as released. Returns whether a socket was closed.
    /// The one way a port that is still configured is given up: by a release, or by a released
    /// service that comes to name it.
    private func giveUp(_ reservation: inout Reservation, of port: PortKey, releasedBy name: String, unit: String?) -> Bool {
        var closed = false
        for family in families {
            if case .released? = reservation.states[family] { continue }
            if case .held(let fd)? = reservation.states[family] {
                closeDescriptor(fd)
                closed = true
                reservation.since = Self.now()
            }
            if !retries.isEmpty { retries[SocketSlot(port, family)] = nil }
            reservation.states[family] = .released(by: name, unit: unit)
        }
        return closed
    }

    /// The first owner of `reservation` that is released: while there is one, the port stays given up.
    private func releasedOwner(of reservation: Reservation) -> String? {
        reservation.owners.first { services[$0]?.released == true }
    }

    /// Brings a configured service to its new configuration: ports it no longer names are given up
    /// (unless another service names them), new ones are taken, and the others are not touched:
    /// an unchanged reservation is never closed and opened again. A released service stays released,
    /// and its ownership follows the file all the same: a port it no longer names must not stay held
    /// for it once the other services that name it are gone.
    func update(_ service: ServiceConfiguration) -> [ReservationEvent] {
        guard let old = services[service.name] else { return add(service) }
        services[service.name] = Service(ports: PortList(service.ports), released: old.released, heldPorts: old.heldPorts)
        let kept = Set(service.ports)
        var events = old.ports.filter { !kept.contains($0) }.flatMap { drop($0, from: service.name) }
        let had = Set(old.ports)
        let added = service.ports.filter { !had.contains($0) }
        if old.released {
            events += added.compactMap { join($0, released: service.name) }
        } else {
            events += added.flatMap { take($0, for: service.name) }
        }
        return events
    }

    /// Removes `name` from the table: ports no other service names are closed.
    @discardableResult
    func forget(_ name: String) -> [ReservationEvent] {
        guard let service = services[name] else { return [] }
        // Dropped while still in the table, so that its held ports are counted out.
        let events = service.ports.flatMap { drop($0, from: name) }
        services[name] = nil
        return events
    }

    /// Closes every socket of `name`, and stops trying to bind those it could not hold. Costs the
    /// service's own ports, not the size of the table. `unit` is the requester's, for status.
    func release(_ name: String, unit: String? = nil) -> ReleaseResult {
        guard let service = services.index(of: name) else { return .unknown }
        services[at: service].released = true
        var closed: [PortKey] = []
        for port in services[at: service].ports {
            updateIfPresent(port) { reservation in
                if giveUp(&reservation, of: port, releasedBy: name, unit: unit) { closed.append(port) }
            }
        }
        return closed.isEmpty ? .alreadyReleased : .released(closed)
    }

    /// Holds `name`'s ports again and forgets that it was released; nil when no service of that
    /// name is configured. What is held stays held (closing it would free the port, and systemd's
    /// stored copy would make the bind fail); only the sockets not held are bound, now, and those
    /// that fail are tried again later.
    func reclaim(_ name: String) -> [ReservationEvent]? {
        guard let service = services.index(of: name) else { return nil }
        services[at: service].released = false
        var events: [ReservationEvent] = []
        for port in services[at: service].ports {
            // Nothing of it held: bound afresh, all families in one go (one store message).
            guard let reservation = reservations[port], reservation.isHeld else {
                for family in families { retries[SocketSlot(port, family)] = nil }
                events += take(port, for: name)
                continue
            }
            if !reservation.owners.contains(name) { update(port) { $0.owners.append(name) } }
            for family in families {
                if case .held = reservations[port]!.states[family] { continue }
                if let event = attempt(SocketSlot(port, family), for: name, firstTry: true) { events.append(event) }
            }
        }
        return events
    }

    /// The state of every socket of `name`'s ports, in port and family order.
    func sockets(of name: String) -> [(SocketSlot, SocketState)] {
        guard let service = services[name] else { return [] }
        return service.ports.flatMap { port -> [(SocketSlot, SocketState)] in
            guard let reservation = reservations[port] else { return [] }
            return reservation.states.map { (SocketSlot(port, $0.family), $0.state) }
        }
    }

    /// Milliseconds until `slot` is tried again, nil when it is not waiting.
    func retryDelay(_ slot: SocketSlot) -> Int? {
        retries[slot].map { max(0, $0.due - clock()) }
    }

    /// Milliseconds until the next bind attempt is due, nil when nothing waits: the loop sleeps that long.
    var millisecondsUntilRetry: Int? {
        guard !retries.isEmpty else { return nil }
        let now = clock()
        return max(0, retries.values.lazy.map(\.due).min()! - now)
    }

    /// Tries again every socket whose attempt is due. Returns `.heldAgain` for those now held;
    /// another failure is not an event (it was told once) but pushes the next attempt back.
    func retryDue() -> [ReservationEvent] {
        let now = clock()
        let due = retries.filter { $0.value.due <= now }.keys.sorted()
        return due.compactMap { slot in
            guard let owner = reservations[slot.key]?.owners.first else {
                retries[slot] = nil
                return nil
            }
            return attempt(slot, for: owner, firstTry: false)
        }
    }

    /// Binds one socket of a reservation that exists and is not held: on success the held state
    /// and `.heldAgain` (or `.reserved`, on a first try); on failure the state says why and the next
    /// attempt is scheduled (a first try returns its `.conflict` or `.failed`, a retry nothing).
    private func attempt(_ slot: SocketSlot, for name: String, firstTry: Bool) -> ReservationEvent? {
        // Only a socket that is waiting is bound: a bind over one held would fail on our own
        // socket and lose it, and one released stays released.
        switch reservations[slot.key]?.states[slot.family] {
        case .held?, .released?:
            retries[slot] = nil
            return nil
        case .conflict?, .failed?, nil:
            break
        }
        let previous = retries[slot]
        let attempts = (previous?.attempts ?? 0) + 1
        let now = clock()
        do throws(SystemError) {
            if heldSocketCount >= socketLimit {
                throw SystemError(call: "socket", subject: slot.description, errno: EMFILE)
            }
            let fd = try bind(slot.key, slot.family, name)
            retries[slot] = nil
            update(slot.key) { reservation in
                reservation.states[slot.family] = .held(fd)
                reservation.since = Self.now()
            }
            if firstTry && previous == nil { return .reserved(service: name, slot.key, sockets: [HeldSocket(slot.family, fd)]) }
            return .heldAgain(service: name, slot, descriptor: fd, attempts: attempts)
        } catch {
            let isConflict = error.errno == EADDRINUSE || error.errno == EACCES
            if firstTry && error.errno == EADDRINUSE { unnamedConflicts.append(slot) }
            update(slot.key) { $0.states[slot.family] = isConflict ? .conflict(error, holder: nil) : .failed(error) }
            retries[slot] = Retry(attempts: attempts, due: now + retrySchedule.delay(afterFailure: attempts),
                                  since: previous?.since ?? Self.now())
            guard firstTry else { return nil }
            return isConflict ? .conflict(service: name, slot.key, slot.family, error)
                : .failed(service: name, slot.key, slot.family, error)
        }
    }

    /// Looks up who holds the ports of the conflicts met since the last call, all in one call of
    /// `lookUp` (one scan of /proc, however many), and keeps each holder for status. Returns the
    /// holders found, for the journal. Only a first conflict is looked up: a retry costs a bind.
    func nameHolders(_ lookUp: ([SocketSlot]) -> [String?] = PortHolder.describe) -> [SocketSlot: String] {
        let slots = unnamedConflicts.filter { slot in
            if case .conflict(_, nil)? = reservations[slot.key]?.states[slot.family] { true } else { false }
        }
        unnamedConflicts = []
        guard !slots.isEmpty else { return [:] }
        var named: [SocketSlot: String] = [:]
        for (slot, holder) in zip(slots, lookUp(slots)) {
            guard let holder, case .conflict(let error, nil)? = reservations[slot.key]?.states[slot.family] else { continue }
            update(slot.key) { $0.states[slot.family] = .conflict(error, holder: holder) }
            named[slot] = holder
        }
        return named
    }

    /// Every row, sorted by service, port and family.
    func status() -> [StatusRow] {
        var rows: [StatusRow] = []
        rows.reserveCapacity(reservations.count * families.count)
        for index in services.indices {
            let name = services.names[index], service = services[at: index]
            for port in service.ports {
                guard let reservation = reservations[port], reservation.owners.contains(name) else { continue }
                // Most ports have one owner and no retry: no array and no lookup for them, as
                // status is published after every batch of requests.
                let sharedWith = reservation.owners.count > 1 ? reservation.owners.filter { $0 != name } : []
                for (family, state) in reservation.states {
                    rows.append(StatusRow(
                        service: name, port: port, family: family, state: state, sharedWith: sharedWith,
                        since: (retries.isEmpty ? nil : retries[SocketSlot(port, family)]?.since) ?? reservation.since))
                }
            }
        }
        return rows
    }

    func summary() -> ReservationSummary {
        ReservationSummary(ports: heldPortCount, services: servicesHoldingPorts, retrying: retriedCount, sockets: heldSocketCount)
    }

    /// Closes everything, for shutdown. The descriptor store is not told: what systemd keeps
    /// there is what a restart takes back.
    func closeAll() {
        for (port, reservation) in reservations {
            for (family, state) in reservation.states {
                guard case .held(let fd) = state else { continue }
                closeDescriptor(fd)
                reservations[port]!.states[family] = .released(by: "shutdown", unit: nil)
            }
        }
        retries = [:]
        unnamedConflicts = []
        retriedCount = 0
        heldSocketCount = 0
        heldPortCount = 0
        servicesHoldingPorts = 0
        for index in services.indices { services[at: index].heldPorts = 0 }
    }

    /// `name` (not released) takes a share in `port`: shared when it is held, left given up when
    /// another service that names it is released, bound (again) otherwise.
    private func take(_ port: PortKey, for name: String) -> [ReservationEvent] {
        let existing = reservations[port]
        if let existing, existing.isHeld {
            update(port) { $0.owners.append(name) }
            return [.shared(service: name, port, with: existing.owners.first ?? name)]
        }
        if let existing, releasedOwner(of: existing) != nil {
            if !existing.owners.contains(name) { update(port) { $0.owners.append(name) } }
            return []
        }
        var events: [ReservationEvent] = []
        var states = FamilyStates()
        var held: [HeldSocket] = []
        for family in families {
            // A retry still scheduled for this socket (its first owner met a conflict) is this
            // attempt now: left in place, it would bind again over the socket held here.
            if !retries.isEmpty { retries[SocketSlot(port, family)] = nil }
            do throws(SystemError) {
                if heldSocketCount + held.count >= socketLimit {
                    throw SystemError(call: "socket", subject: InternetSockets.describe(port, family), errno: EMFILE)
                }
                let fd = try bind(port, family, name)
                states[family] = .held(fd)
                held.append(HeldSocket(family, fd))
            } catch where error.errno == EADDRINUSE || error.errno == EACCES {
                if error.errno == EADDRINUSE { unnamedConflicts.append(SocketSlot(port, family)) }
                states[family] = .conflict(error, holder: nil)
                events.append(.conflict(service: name, port, family, error))
                scheduleFirstRetry(SocketSlot(port, family))
            } catch {
                states[family] = .failed(error)
                events.append(.failed(service: name, port, family, error))
                scheduleFirstRetry(SocketSlot(port, family))
            }
        }
        if !held.isEmpty { events.append(.reserved(service: name, port, sockets: held)) }
        var owners = existing?.owners ?? PortOwners()
        if !owners.contains(name) { owners.append(name) }
        update(port) { $0 = Reservation(owners: owners, states: states, since: Self.now()) }
        return events
    }

    private func scheduleFirstRetry(_ slot: SocketSlot) {
        retries[slot] = Retry(attempts: 1, due: clock() + retrySchedule.delay(afterFailure: 1), since: Self.now())
    }

    /// `name` gives up its share in `port`; the last owner to go closes it. When `name` was the
    /// released service that had the port given up, the owners left, none of them released, hold
    /// it again, as a restart would.
    private func drop(_ port: PortKey, from name: String) -> [ReservationEvent] {
        guard let reservation = reservations[port] else { return [] }
        let owners = PortOwners(reservation.owners.lazy.filter { $0 != name })
        if !owners.isEmpty {
            update(port) { $0.owners = owners }
            let left = reservations[port]!
            if !left.isHeld && left.retriedCount == 0 && releasedOwner(of: left) == nil {
                return take(port, for: owners[0])
            }
            return []
        }
        for (family, state) in reservation.states {
            if case .held(let fd) = state { closeDescriptor(fd) }
            retries[SocketSlot(port, family)] = nil
        }
        update(port, remove: true) { _ in }
        return reservation.isHeld ? [.givenUp(service: name, port)] : []
    }

    /// The one place a reservation changes, so the counters can never drift from the table.
    /// Changes the reservation in place (no copy of it, one hash of the key), and counts only
    /// what changed: a release costs the service's own ports, whatever the size of the table.
    private func update(_ port: PortKey, remove: Bool = false, _ change: (inout Reservation) -> Void) {
        if updateIfPresent(port, remove: remove, change) { return }
        var reservation = Reservation(owners: PortOwners(), states: FamilyStates(), since: Self.now())
        change(&reservation)
        guard !remove else { return }
        reservations[port] = reservation
        count(held: (0, reservation.heldCount), retried: (0, reservation.retriedCount), owners: (PortOwners(), reservation.owners))
    }

    /// `update` of a port that has a reservation (one hash of the key); false, and nothing
    /// changed, when it has none.
    @discardableResult
    private func updateIfPresent(_ port: PortKey, remove: Bool = false, _ change: (inout Reservation) -> Void) -> Bool {
        guard let index = reservations.index(forKey: port) else { return false }
        let (heldBefore, retriedBefore, ownersBefore) = reservations.values[index].counts
        change(&reservations.values[index])
        var after = (held: 0, retried: 0, owners: PortOwners())
        if remove { reservations.remove(at: index) } else { after = reservations.values[index].counts }
        count(held: (heldBefore, after.held), retried: (retriedBefore, after.retried), owners: (ownersBefore, after.owners))
        return true
    }

    /// Moves the counters by what one change of a reservation did.
    private func count(held: (before: Int, after: Int), retried: (before: Int, after: Int), owners: (before: PortOwners, after: PortOwners)) {
        heldSocketCount += held.after - held.before
        retriedCount += retried.after - retried.before
        heldPortCount += (held.after > 0 ? 1 : 0) - (held.before > 0 ? 1 : 0)
        if held.before > 0 && held.after > 0 && owners.before == owners.after { return }
        if held.before > 0 { for owner in owners.before { countHeldPort(of: owner, by: -1) } }
        if held.after > 0 { for owner in owners.after { countHeldPort(of: owner, by: 1) } }
    }

    private func countHeldPort(of owner: String, by change: Int32) {
        guard let index = services.index(of: owner) else { return }
        let before = services[at: index].heldPorts
        let after = before + change
        services[at: index].heldPorts = after
        servicesHoldingPorts += (after > 0 ? 1 : 0) - (before > 0 ? 1 : 0)
    }

    private static func now() -> Int { Int(time(nil)) }
}
