import CSystemd
import SystemCalls
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A descriptor the service manager passed at start (socket activation or the descriptor store),
/// with the name systemd gave it (`FileDescriptorName=`, an `FDNAME=` of the store, or "unknown").
public struct ListenedDescriptor: Equatable, Sendable, CustomStringConvertible {
    public let fd: FileDescriptor
    public let name: String

    public init(fd: FileDescriptor, name: String) {
        self.fd = fd
        self.name = name
    }

    /// What the descriptor really is, for error messages and for sorting mixed sets.
    public var kind: DescriptorKind { DescriptorKind(of: fd) }

    public var description: String { "fd \(fd.rawValue) \"\(name)\" (\(kind))" }
}

/// What a caller needs a passed descriptor to be.
public enum SocketExpectation: Equatable, Sendable, CustomStringConvertible {
    /// A Unix datagram socket, bound to `path` when a path is given.
    case unixDatagram(path: String?)

    public var description: String {
        switch self {
        case .unixDatagram(nil): return "a Unix datagram socket"
        case .unixDatagram(let path?): return "a Unix datagram socket bound to \(path)"
        }
    }

    /// Wraps `sd_is_socket_unix(3)`.
    func isMet(by descriptor: FileDescriptor) -> Bool {
        let fd = descriptor.rawValue
        switch self {
        case .unixDatagram(let path):
            guard let path else { return sd_is_socket_unix(fd, CInt(SOCK_DGRAM.rawValue), -1, nil, 0) > 0 }
            return path.withCString { sd_is_socket_unix(fd, CInt(SOCK_DGRAM.rawValue), -1, $0, 0) > 0 }
        }
    }
}

/// Why the passed descriptors are not what the caller expected; each case says what was found.
public enum ActivationError: Error, Equatable, CustomStringConvertible {
    /// The service manager passed no descriptor at all (the service was not socket-activated).
    case noDescriptors(expected: SocketExpectation)
    /// More descriptors than the caller can use.
    case tooMany(expected: SocketExpectation, found: [ListenedDescriptor])
    /// A descriptor of another kind.
    case wrongKind(expected: SocketExpectation, found: ListenedDescriptor)
    /// The passed environment could not be read.
    case system(SystemError)

    public var description: String {
        switch self {
        case .noDescriptors(let expected):
            return "expected \(expected) from the service manager, found no passed descriptors (LISTEN_FDS not set)"
        case .tooMany(let expected, let found):
            return "expected one descriptor, \(expected), found \(found.count): "
                + found.map(\.description).joined(separator: ", ")
        case .wrongKind(let expected, let found):
            return "expected \(expected), found \(found)"
        case .system(let error):
            return error.description
        }
    }
}

/// Reads the descriptors that systemd passes at start (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`).
///
///     // A socket-activated service with one socket, checked to be what the .socket unit says:
///     let control = try SocketActivation.single(.unixDatagram(path: "/run/portreserve/socket"))
///     // Or every descriptor, by name (the socket units' FileDescriptorName=, the store's FDNAME=):
///     for passed in try SocketActivation.descriptors() { print(passed) }  // fd 3 "cups.631.tcp" (IPv4 TCP socket)
public enum SocketActivation {
    /// All passed descriptors, with close-on-exec set. With `consumeEnvironment` the three variables
    /// are removed so that programs this process starts do not think the descriptors are theirs.
    ///
    /// Wraps `sd_listen_fds_with_names(3)`.
    public static func descriptors(consumeEnvironment: Bool = true) throws(SystemError) -> [ListenedDescriptor] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = try negativeErrnoOrThrow(
            "sd_listen_fds_with_names", sd_listen_fds_with_names(consumeEnvironment ? 1 : 0, &names))
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        return (0..<count).map { offset in
            let name = names?[Int(offset)].map { String(cString: $0) } ?? "unknown"
            return ListenedDescriptor(fd: FileDescriptor(rawValue: CInt(SD_LISTEN_FDS_START) + offset), name: name)
        }
    }

    /// The single descriptor a simple socket-activated service expects, checked to be `expected`.
    public static func single(
        _ expected: SocketExpectation, consumeEnvironment: Bool = true
    ) throws(ActivationError) -> ListenedDescriptor {
        let passed: [ListenedDescriptor]
        do { passed = try descriptors(consumeEnvironment: consumeEnvironment) } catch { throw .system(error) }
        return try single(expected, among: passed)
    }

    /// Picks the one descriptor of `passed` and checks its kind.
    public static func single(
        _ expected: SocketExpectation, among passed: [ListenedDescriptor]
    ) throws(ActivationError) -> ListenedDescriptor {
        guard let first = passed.first else { throw .noDescriptors(expected: expected) }
        guard passed.count == 1 else { throw .tooMany(expected: expected, found: passed) }
        try check(first, is: expected)
        return first
    }

    /// Throws `wrongKind` unless `descriptor` is what `expected` describes.
    public static func check(_ descriptor: ListenedDescriptor, is expected: SocketExpectation) throws(ActivationError) {
        guard expected.isMet(by: descriptor.fd) else { throw .wrongKind(expected: expected, found: descriptor) }
    }
}

extension SocketActivation {
    /// Whether `fd` is an Internet socket of `family` (`AF_INET` or `AF_INET6`) and `type`
    /// (`SOCK_STREAM`, `SOCK_DGRAM`) bound to `port`, listening or not: how a daemon checks that a
    /// descriptor handed back from the store is the socket its name says. Wraps `sd_is_socket_inet(3)`.
    ///
    ///     let isIPv6 = SocketActivation.isInternetSocket(fd, family: AF_INET6, type: CInt(SOCK_DGRAM.rawValue), port: 631)
    public static func isInternetSocket(_ fd: FileDescriptor, family: CInt, type: CInt, port: UInt16) -> Bool {
        sd_is_socket_inet(fd.rawValue, family, type, -1, port) > 0
    }
}
