#if canImport(Glibc)
import Glibc
#endif

/// A Unix socket address: a path, an abstract name (leading NUL), or unnamed. Kept as the raw
/// bytes the kernel gave, so a reply goes back to exactly the address a request came from.
public struct UnixAddress: Equatable, Sendable, CustomStringConvertible {
    /// The bytes of `sun_path` that count (no trailing NUL for paths; a leading NUL for abstract names).
    public let pathBytes: [UInt8]

    public init(pathBytes: [UInt8]) { self.pathBytes = pathBytes }

    public init(path: String) { self.pathBytes = Array(path.utf8) }

    /// The longest path `sockaddr_un` holds, without its terminating NUL.
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    public var isUnnamed: Bool { pathBytes.isEmpty }

    public var description: String {
        if pathBytes.isEmpty { return "(unnamed)" }
        if pathBytes[0] == 0 { return "@" + String(decoding: pathBytes.dropFirst(), as: UTF8.self) }
        return String(decoding: pathBytes, as: UTF8.self)
    }

    /// Calls `body` with a `sockaddr` for this address and its length.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let count = min(pathBytes.count, Self.maximumPathLength + 1)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for index in 0..<count { raw[index] = pathBytes[index] }
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        // Paths are NUL-terminated; abstract names are exactly their bytes long.
        let length = pathOffset + count + (pathBytes.first == 0 || pathBytes.isEmpty ? 0 : 1)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }
}

/// The kernel's credentials of a datagram's sender (SCM_CREDENTIALS): they cannot be forged by
/// the sender, unlike anything in the payload.
public struct PeerCredentials: Equatable, Sendable {
    public let pid: pid_t
    public let uid: uid_t
    public let gid: gid_t

    public init(pid: pid_t, uid: uid_t, gid: gid_t) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// One datagram as `recvmsg(2)` delivered it.
public struct ReceivedDatagram: Sendable {
    public var payload: [UInt8]
    /// The payload did not fit the buffer and was cut (MSG_TRUNC).
    public var truncated: Bool
    public var sender: UnixAddress
    public var credentials: PeerCredentials?
    /// Descriptors passed with SCM_RIGHTS; the receiver owns them.
    public var descriptors: [CInt]

    public init(payload: [UInt8], truncated: Bool = false, sender: UnixAddress, credentials: PeerCredentials?, descriptors: [CInt] = []) {
        self.payload = payload
        self.truncated = truncated
        self.sender = sender
        self.credentials = credentials
        self.descriptors = descriptors
    }
}

/// A new Unix datagram socket with close-on-exec set. Wraps `socket(2)`.
public func makeUnixDatagramSocket() throws(SystemError) -> CInt {
    try retryingInterrupts("socket", subject: "AF_UNIX/SOCK_DGRAM") {
        socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    }
}

/// Binds `fd` to `address`; an unnamed address asks the kernel for an autobound abstract name,
/// which vanishes with the socket and so never leaves a file behind. Wraps `bind(2)`.
public func bindUnix(_ fd: CInt, to address: UnixAddress) throws(SystemError) {
    let result: CInt
    if address.isUnnamed {
        var family = sa_family_t(AF_UNIX)
        result = withUnsafePointer(to: &family) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sa_family_t>.size))
            }
        }
    } else {
        result = address.withSockaddr { bind(fd, $0, $1) }
    }
    // errno first: building the subject (a String) may call into libc and change it.
    let code = errno
    if result != 0 { throw SystemError(call: "bind", subject: address.description, errno: code) }
}

/// Connects a datagram socket to `address`, so later sends need no address. Wraps `connect(2)`.
public func connectUnix(_ fd: CInt, to address: UnixAddress) throws(SystemError) {
    _ = try retryingInterrupts("connect", subject: address.description) {
        address.withSockaddr { connect(fd, $0, $1) }
    }
}

/// Turns on SO_PASSCRED so every received datagram carries its sender's kernel credentials.
public func enablePassCredentials(_ fd: CInt) throws(SystemError) {
    var on: CInt = 1
    _ = try retryingInterrupts("setsockopt(SO_PASSCRED)", subject: "fd \(fd)") {
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<CInt>.size))
    }
}

/// Sends one datagram, to `address` or, when nil, to the connected peer. With `nonBlocking`, it
/// returns false instead of blocking when the receiver's queue is full (as `receiveDatagram`
/// returns nil when nothing is queued); other failures throw. Wraps `sendmsg(2)`.
@discardableResult
public func sendDatagram(
    _ fd: CInt, _ payload: [UInt8], to address: UnixAddress? = nil, descriptors: [CInt] = [], nonBlocking: Bool = false
) throws(SystemError) -> Bool {
    var message = msghdr()
    var control = [UInt8](repeating: 0, count: descriptors.isEmpty ? 0 : controlSpace(descriptors.count * 4))
    let (sent, code) = payload.withUnsafeBytes { bytes in
        var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
            message.msg_iov = vectorPointer
            message.msg_iovlen = 1
            return control.withUnsafeMutableBytes { controlBytes in
                if !descriptors.isEmpty {
                    writeControlHeader(into: controlBytes, level: SOL_SOCKET, type: CInt(SCM_RIGHTS), dataLength: descriptors.count * 4)
                    descriptors.withUnsafeBytes { fds in
                        (controlBytes.baseAddress! + controlHeaderSpace).copyMemory(from: fds.baseAddress!, byteCount: fds.count)
                    }
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                }
                let send = { (name: UnsafePointer<sockaddr>?, length: socklen_t) -> (value: Int, errno: CInt) in
                    message.msg_name = UnsafeMutableRawPointer(mutating: name)
                    message.msg_namelen = length
                    return valueOrErrno { sendmsg(fd, &message, CInt(MSG_NOSIGNAL) | (nonBlocking ? CInt(MSG_DONTWAIT) : 0)) }
                }
                if let address { return address.withSockaddr { send($0, $1) } }
                return send(nil, 0)
            }
        }
    }
    if sent >= 0 { return true }
    if nonBlocking && (code == EAGAIN || code == EWOULDBLOCK) { return false }
    throw SystemError(call: "sendmsg", subject: address?.description ?? "fd \(fd)", errno: code)
}

/// Receives one datagram with its sender, credentials and passed descriptors. With `wait: false`
/// it returns nil instead of blocking when nothing is queued. Wraps `recvmsg(2)`.
public func receiveDatagram(_ fd: CInt, capacity: Int, wait: Bool = true) throws(SystemError) -> ReceivedDatagram? {
    var payload = [UInt8](repeating: 0, count: capacity)
    var control = [UInt8](repeating: 0, count: controlSpace(MemoryLayout<KernelCredentials>.size) + controlSpace(scmMaxDescriptors * 4))
    var address = sockaddr_un()
    var message = msghdr()
    let flags = CInt(MSG_CMSG_CLOEXEC) | CInt(MSG_TRUNC) | (wait ? 0 : CInt(MSG_DONTWAIT))
    let (received, code) = payload.withUnsafeMutableBytes { bytes in
        var vector = iovec(iov_base: bytes.baseAddress, iov_len: bytes.count)
        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
            withUnsafeMutablePointer(to: &address) { addressPointer in
                control.withUnsafeMutableBytes { controlBytes in
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_name = UnsafeMutableRawPointer(addressPointer)
                    message.msg_namelen = socklen_t(MemoryLayout<sockaddr_un>.size)
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    return valueOrErrno { recvmsg(fd, &message, flags) }
                }
            }
        }
    }
    if received < 0 {
        if !wait && (code == EAGAIN || code == EWOULDBLOCK) { return nil }
        throw SystemError(call: "recvmsg", subject: "fd \(fd)", errno: code)
    }
    var credentials: PeerCredentials?
    var descriptors: [CInt] = []
    control.withUnsafeBytes { controlBytes in
        var offset = 0
        let end = min(Int(message.msg_controllen), controlBytes.count)
        while offset + controlHeaderSpace <= end {
            let header = controlBytes.loadUnaligned(fromByteOffset: offset, as: cmsghdr.self)
            let length = Int(header.cmsg_len)
            guard length >= controlHeaderSpace, offset + length <= end else { break }
            let data = offset + controlHeaderSpace
            let dataLength = length - controlHeaderSpace
            if header.cmsg_level == SOL_SOCKET && header.cmsg_type == scmCredentials
                && dataLength >= MemoryLayout<KernelCredentials>.size {
                let value = controlBytes.loadUnaligned(fromByteOffset: data, as: KernelCredentials.self)
                credentials = PeerCredentials(pid: value.pid, uid: value.uid, gid: value.gid)
            } else if header.cmsg_level == SOL_SOCKET && header.cmsg_type == CInt(SCM_RIGHTS) {
                for index in 0..<(dataLength / 4) {
                    descriptors.append(controlBytes.loadUnaligned(fromByteOffset: data + index * 4, as: CInt.self))
                }
            }
            offset += controlSpace(dataLength)
        }
    }
    let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
    let nameLength = max(0, Int(message.msg_namelen) - pathOffset)
    var senderBytes = withUnsafeBytes(of: &address.sun_path) { Array($0.prefix(nameLength)) }
    if senderBytes.first != 0, let nul = senderBytes.firstIndex(of: 0) { senderBytes.removeSubrange(nul...) }
    let truncated = received > capacity || message.msg_flags & CInt(MSG_TRUNC) != 0
    payload.removeSubrange(min(received, capacity)...)
    return ReceivedDatagram(
        payload: payload, truncated: truncated, sender: UnixAddress(pathBytes: senderBytes),
        credentials: credentials, descriptors: descriptors)
}

// `struct ucred` and SCM_CREDENTIALS of <sys/socket.h>, hidden from Swift behind _GNU_SOURCE.
private struct KernelCredentials {
    var pid: pid_t
    var uid: uid_t
    var gid: gid_t
}
private let scmCredentials: CInt = 2
/// SCM_MAX_FD of the kernel (include/net/scm.h, not exported to user space): the most descriptors
/// one datagram can pass, so the room that never cuts a passed set short (each is then closed).
private let scmMaxDescriptors = 253

// cmsg(3) layout, which Swift cannot import as the C macros: a header padded to size_t alignment,
// then the data, padded again.
private let controlAlignment = MemoryLayout<Int>.size
private func controlAligned(_ length: Int) -> Int { (length + controlAlignment - 1) & ~(controlAlignment - 1) }
private let controlHeaderSpace = controlAligned(MemoryLayout<cmsghdr>.size)
private func controlSpace(_ dataLength: Int) -> Int { controlHeaderSpace + controlAligned(dataLength) }

private func writeControlHeader(into buffer: UnsafeMutableRawBufferPointer, level: CInt, type: CInt, dataLength: Int) {
    var header = cmsghdr()
    header.cmsg_len = controlHeaderSpace + dataLength
    header.cmsg_level = level
    header.cmsg_type = type
    withUnsafeBytes(of: &header) { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
}
