#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call, named the way an administrator reads it: which call, on what, and the
/// kernel's reason ("bind 0.0.0.0:631/tcp: Address already in use").
public struct SystemError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The C function that failed, such as `bind`.
    public var call: String
    /// What it was called on, such as `0.0.0.0:631/tcp` or a path; empty when there is nothing to say.
    public var subject: String
    /// The `errno` value the call left.
    public var errno: CInt

    public init(call: String, subject: String = "", errno: CInt) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    /// The kernel's own wording for `errno`, as `strerror(3)` gives it.
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String {
        subject.isEmpty ? "\(call): \(reason)" : "\(call) \(subject): \(reason)"
    }
}

/// Runs a C call that reports failure as -1 with `errno`, retrying it while it fails with `EINTR`.
///
/// Every raw call in this project goes through here or `valueOrThrow`, so the retry and the
/// conversion to `SystemError` are written once.
@inlinable
public func retryingInterrupts<Result: FixedWidthInteger>(
    _ call: String, subject: @autoclosure () -> String = "", _ body: () -> Result
) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(call: call, subject: subject(), errno: code)
    }
}

/// Converts a libsystemd-style return value (negative errno on failure) into a Swift error.
@inlinable
public func negativeErrnoOrThrow(
    _ call: String, subject: @autoclosure () -> String = "", _ result: CInt
) throws(SystemError) -> CInt {
    if result < 0 { throw SystemError(call: call, subject: subject(), errno: -result) }
    return result
}
