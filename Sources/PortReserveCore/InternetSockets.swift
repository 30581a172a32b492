import PortReserveProtocol
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The sockets that hold a port: bound, never listened on, without SO_REUSEADDR.
///
/// Not listening keeps clients from hanging in a backlog nobody accepts; no SO_REUSEADDR keeps any
/// other socket from sharing the port; IPV6_V6ONLY keeps the IPv6 socket to the IPv6 port space, so
/// the IPv4 one is held by its own socket and the two can be released and reported separately.
public enum InternetSockets {
    /// "0.0.0.0:631/tcp" or "[::]:631/tcp", as errors and logs name a reservation.
    public static func describe(_ key: PortKey, _ family: AddressFamily) -> String {
        SocketSlot(key, family).description
    }

    /// A socket bound to the wildcard address of `family` on `key`. Wraps `socket(2)` and `bind(2)`.
    public static func reserve(_ key: PortKey, _ family: AddressFamily) throws(SystemError) -> CInt {
        // The subject is built only when a call fails: formatting it for every socket cost more
        // than the socket.
        let type = (key.transport == .tcp ? CInt(SOCK_STREAM.rawValue) : CInt(SOCK_DGRAM.rawValue)) | CInt(SOCK_CLOEXEC.rawValue)
        let fd = try retryingInterrupts("socket", subject: describe(key, family)) {
            socket(family == .ipv4 ? AF_INET : AF_INET6, type, 0)
        }
        do {
            if family == .ipv6 {
                var on: CInt = 1
                _ = try retryingInterrupts("setsockopt(IPV6_V6ONLY)", subject: describe(key, family)) {
                    setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<CInt>.size))
                }
            }
            _ = try retryingInterrupts("bind", subject: describe(key, family)) { bindWildcard(fd, key.port, family) }
            return fd
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// Whether this kernel can make IPv6 sockets at all (it may be built or booted without IPv6).
    public static func kernelHasIPv6() -> Bool {
        let fd = socket(AF_INET6, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { return errno != EAFNOSUPPORT }
        closeDescriptor(fd)
        return true
    }

    private static func bindWildcard(_ fd: CInt, _ port: UInt16, _ family: AddressFamily) -> CInt {
        switch family {
        case .ipv4:
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = INADDR_ANY
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .ipv6:
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_any
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }
}
