#if canImport(Glibc)
import Glibc
#endif

/// Closes descriptors on a thread of its own, for descriptors a stranger handed us: close(2) of
/// the last reference to a TCP socket with SO_LINGER set and unsent data waits up to the linger
/// time, and a file on FUSE or a hung NFS mount can block in its flush. The loop that serves
/// requests must never wait for that.
///
/// The thread starts at the first descriptor (most daemons never get one). A descriptor that
/// cannot be queued (thousands already waiting behind a blocked close) is closed in place.
public final class BackgroundCloser: @unchecked Sendable {
    private var queue: CInt = -1

    public init() {}

    public func close(_ descriptors: [CInt]) {
        guard !descriptors.isEmpty else { return }
        if queue < 0 { queue = Self.startThread() }
        for fd in descriptors {
            var value = fd
            if queue < 0 || write(queue, &value, 4) != 4 { closeDescriptor(fd) }
        }
    }

    /// The write end of a pipe whose reader closes each descriptor number it reads; -1 when no
    /// thread could be started.
    private static func startThread() -> CInt {
        var ends: [CInt] = [-1, -1]
        guard pipe(&ends) == 0 else { return -1 }
        for end in ends { try? setCloseOnExec(end) }
        _ = fcntl(ends[1], F_SETFL, O_NONBLOCK)
        var thread = pthread_t()
        let reader = UnsafeMutablePointer<CInt>.allocate(capacity: 1)
        reader.pointee = ends[0]
        let started = pthread_create(&thread, nil, { argument in
            let pointer = argument!.assumingMemoryBound(to: CInt.self)
            let fd = pointer.pointee
            pointer.deallocate()
            var value: CInt = 0
            while valueOrErrno({ read(fd, &value, 4) }).value == 4 { closeDescriptor(value) }
            return nil
        }, reader)
        guard started == 0 else {
            reader.deallocate()
            closeDescriptor(ends[0])
            closeDescriptor(ends[1])
            return -1
        }
        pthread_detach(thread)
        return ends[1]
    }
}

/// Asks the kernel to refuse descriptors passed to `fd` (SO_PASSRIGHTS off, Linux 6.16 and later):
/// a sender's SCM_RIGHTS then fails with EPERM, and none ever reaches us. False where the kernel
/// does not know the option; `BackgroundCloser` is the answer there.
@discardableResult
public func refusePassedDescriptors(_ fd: CInt) -> Bool {
    var off: CInt = 0
    return setsockopt(fd, SOL_SOCKET, soPassRights, &off, socklen_t(MemoryLayout<CInt>.size)) == 0
}

/// SO_PASSRIGHTS of <asm-generic/socket.h>, newer than the headers Swift imports here.
private let soPassRights: CInt = 83
