import SystemCalls
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What an open descriptor is, read from the kernel, so that an error can say "found a TCP socket"
/// rather than only "wrong descriptor".
///
///     print(DescriptorKind(of: FileDescriptor(rawValue: 3)))   // "IPv4 TCP socket", "pipe", "not an open descriptor"
public enum DescriptorKind: Equatable, Sendable, CustomStringConvertible {
    /// A socket of `family` (`AF_*`) and `type` (`SOCK_*`).
    case socket(family: CInt, type: CInt)
    /// A regular file, pipe, device and so on, named as `stat(2)` tells it.
    case file(String)
    /// Not an open descriptor.
    case closed

    /// Wraps `fstat(2)` and `getsockopt(SO_DOMAIN, SO_TYPE)`.
    public init(of descriptor: FileDescriptor) {
        let fd = descriptor.rawValue
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            self = .closed
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFSOCK:
            self = .socket(family: Self.intOption(fd, SO_DOMAIN), type: Self.intOption(fd, SO_TYPE))
        case S_IFREG: self = .file("regular file")
        case S_IFIFO: self = .file("pipe")
        case S_IFCHR: self = .file("character device")
        case S_IFDIR: self = .file("directory")
        default: self = .file("file")
        }
    }

    public var description: String {
        switch self {
        case .socket(let family, let type):
            let familyName: String
            switch family {
            case AF_UNIX: familyName = "Unix"
            case AF_INET: familyName = "IPv4"
            case AF_INET6: familyName = "IPv6"
            case AF_NETLINK: familyName = "netlink"
            default: familyName = "family \(family)"
            }
            let typeName: String
            switch type {
            case CInt(SOCK_DGRAM.rawValue): typeName = family == AF_INET || family == AF_INET6 ? "UDP" : "datagram"
            case CInt(SOCK_STREAM.rawValue): typeName = family == AF_INET || family == AF_INET6 ? "TCP" : "stream"
            case CInt(SOCK_SEQPACKET.rawValue): typeName = "seqpacket"
            default: typeName = "type \(type)"
            }
            return "\(familyName) \(typeName) socket"
        case .file(let what): return what
        case .closed: return "not an open descriptor"
        }
    }

    private static func intOption(_ fd: CInt, _ option: CInt) -> CInt {
        var value: CInt = -1
        var length = socklen_t(MemoryLayout<CInt>.size)
        _ = getsockopt(fd, SOL_SOCKET, option, &value, &length)
        return value
    }
}
