import Foundation

/// The transport and family of a probe bind, in the test's own words.
public enum Probe: CaseIterable, Sendable {
    case tcp4, udp4, tcp6, udp6
}

/// Tries to bind `port` as `probe` without SO_REUSEADDR, which is what a service (or
/// bindresvport) would do: true when the bind succeeds, that is when the port is free.
/// (`ss` does not list bound-but-not-listening TCP sockets, so a bind attempt is the check.)
public func canBind(_ port: UInt16, _ probe: Probe) -> Bool {
    let fd = holdPort(port, probe)
    if fd >= 0 { close(fd) }
    return fd >= 0
}

/// Binds `port` as `probe` and returns the descriptor, or -1 if the port is taken.
public func holdPort(_ port: UInt16, _ probe: Probe) -> CInt {
    let v6 = probe == .tcp6 || probe == .udp6
    let type = (probe == .tcp4 || probe == .tcp6) ? CInt(SOCK_STREAM.rawValue) : CInt(SOCK_DGRAM.rawValue)
    let fd = socket(v6 ? AF_INET6 : AF_INET, type | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var result: CInt
    if v6 {
        var on: CInt = 1
        setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<CInt>.size))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        address.sin6_addr = in6addr_any
        result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    } else {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
    if result != 0 {
        close(fd)
        return -1
    }
    return fd
}

private let nextPort = PortCounter()

/// `count` consecutive high ports that are free in every protocol and family right now, never
/// handed out twice in one test run, so tests running in parallel do not meet.
public func unusedPorts(_ count: Int) -> [UInt16] {
    while true {
        let first = nextPort.take(count)
        let ports = (0..<count).map { first + UInt16($0) }
        if ports.allSatisfy({ port in Probe.allCases.allSatisfy { canBind(port, $0) } }) { return ports }
    }
}

private final class PortCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = UInt16(20000 + Int(getpid()) % 10000)
    func take(_ count: Int) -> UInt16 {
        lock.withLock {
            if Int(next) + count > 32000 { next = 20000 }
            defer { next += UInt16(count) }
            return next
        }
    }
}
