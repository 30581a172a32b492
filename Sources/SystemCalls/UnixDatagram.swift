import CLinux

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
    let rightsLength = descriptors.count * MemoryLayout<CInt>.size
    // A cmsghdr is aligned to size_t: Int words give the buffer that alignment.
    var control = [Int](repeating: 0, count: descriptors.isEmpty ? 0 : (clinux_cmsg_space(rightsLength) + 7) / 8)
    let (sent, code) = payload.withUnsafeBytes { bytes in
        var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
            message.msg_iov = vectorPointer
            message.msg_iovlen = 1
            return control.withUnsafeMutableBytes { controlBytes in
                if !descriptors.isEmpty {
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = clinux_cmsg_space(rightsLength)
                    let header = clinux_cmsg_firsthdr(&message)!
                    header.pointee.cmsg_len = clinux_cmsg_len(rightsLength)
                    header.pointee.cmsg_level = SOL_SOCKET
                    header.pointee.cmsg_type = CInt(SCM_RIGHTS)
                    descriptors.withUnsafeBytes { fds in
                        UnsafeMutableRawPointer(clinux_cmsg_data(header)).copyMemory(from: fds.baseAddress!, byteCount: fds.count)
                    }
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
    // Room for the credentials and for as many descriptors as a datagram can pass, so a passed
    // set is never cut short (each is then closed). Int words: a cmsghdr is aligned to size_t.
    let controlLength = clinux_cmsg_space(clinux_ucred_size) + clinux_cmsg_space(Int(CLINUX_SCM_MAX_FD) * MemoryLayout<CInt>.size)
    var control = [Int](repeating: 0, count: (controlLength + 7) / 8)
    var address = sockaddr_un()
    var message = msghdr()
    let flags = CInt(MSG_CMSG_CLOEXEC) | CInt(MSG_TRUNC) | (wait ? 0 : CInt(MSG_DONTWAIT))
    var (received, code) = (0, CInt(0))
    // Not zeroed first: the kernel writes the payload, and only what it wrote is kept. Zeroing
    // 64 KB for every datagram was most of the receive's cost.
    let payload = [UInt8](unsafeUninitializedCapacity: capacity) { bytes, initialized in
        var vector = iovec(iov_base: bytes.baseAddress, iov_len: bytes.count)
        (received, code) = withUnsafeMutablePointer(to: &vector) { vectorPointer in
            withUnsafeMutablePointer(to: &address) { addressPointer in
                control.withUnsafeMutableBytes { controlBytes in
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_name = UnsafeMutableRawPointer(addressPointer)
                    message.msg_namelen = socklen_t(MemoryLayout<sockaddr_un>.size)
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlLength
                    return valueOrErrno { recvmsg(fd, &message, flags) }
                }
            }
        }
        initialized = min(max(received, 0), capacity)
    }
    if received < 0 {
        if !wait && (code == EAGAIN || code == EWOULDBLOCK) { return nil }
        throw SystemError(call: "recvmsg", subject: "fd \(fd)", errno: code)
    }
    var credentials: PeerCredentials?
    var descriptors: [CInt] = []
    control.withUnsafeMutableBytes { controlBytes in
        // The kernel set msg_controllen to what it wrote; the macros walk only that.
        message.msg_control = controlBytes.baseAddress
        var next = clinux_cmsg_firsthdr(&message)
        while let header = next {
            let data = clinux_cmsg_data(header)!
            let dataLength = Int(header.pointee.cmsg_len) - clinux_cmsg_len(0)
            guard dataLength >= 0 else { break }  // the kernel writes these; never trust a length blindly
            if header.pointee.cmsg_level == SOL_SOCKET && header.pointee.cmsg_type == clinux_scm_credentials
                && dataLength >= clinux_ucred_size {
                var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
                clinux_ucred_read(data, &pid, &uid, &gid)
                credentials = PeerCredentials(pid: pid, uid: uid, gid: gid)
            } else if header.pointee.cmsg_level == SOL_SOCKET && header.pointee.cmsg_type == CInt(SCM_RIGHTS) {
                let raw = UnsafeRawPointer(data)
                for index in 0..<(dataLength / MemoryLayout<CInt>.size) {
                    descriptors.append(raw.loadUnaligned(fromByteOffset: index * MemoryLayout<CInt>.size, as: CInt.self))
                }
            }
            next = clinux_cmsg_nxthdr(&message, header)
        }
        message.msg_control = nil
    }
    let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
    let nameLength = max(0, Int(message.msg_namelen) - pathOffset)
    var senderBytes = withUnsafeBytes(of: &address.sun_path) { Array($0.prefix(nameLength)) }
    if senderBytes.first != 0, let nul = senderBytes.firstIndex(of: 0) { senderBytes.removeSubrange(nul...) }
    let truncated = received > capacity || message.msg_flags & CInt(MSG_TRUNC) != 0
    return ReceivedDatagram(
        payload: payload, truncated: truncated, sender: UnixAddress(pathBytes: senderBytes),
        credentials: credentials, descriptors: descriptors)
}
