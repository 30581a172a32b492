#if canImport(Glibc)
import Glibc
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

/// Runs a C call that reports failure as -1 with `errno`, retrying it while it fails with `EINTR`,
/// and returns its value, or the `errno` it failed with, read at once, before any other call (a
/// message built first could change it). It does not throw, so it works inside the
/// `withUnsafe…` closures a call's buffers live in; `retryingInterrupts` is the throwing form.
///
/// Every raw call that can be interrupted goes through one of the two, so the retry is written once.
@inlinable
public func valueOrErrno<Value: FixedWidthInteger>(_ body: () -> Value) -> (value: Value, errno: CInt) {
    while true {
        let value = body()
        if value != -1 { return (value, 0) }
        let code = Glibc.errno
        if code != EINTR { return (value, code) }
    }
}

/// `valueOrErrno` that throws the failure as a `SystemError` naming `call` and `subject` (built
/// only on failure).
@inlinable
public func retryingInterrupts<Result: FixedWidthInteger>(
    _ call: String, subject: @autoclosure () -> String = "", _ body: () -> Result
) throws(SystemError) -> Result {
    let (value, code) = valueOrErrno(body)
    if code != 0 { throw SystemError(call: call, subject: subject(), errno: code) }
    return value
}

/// Converts a libsystemd-style return value (negative errno on failure) into a Swift error.
@inlinable
public func negativeErrnoOrThrow(
    _ call: String, subject: @autoclosure () -> String = "", _ result: CInt
) throws(SystemError) -> CInt {
    if result < 0 { throw SystemError(call: call, subject: subject(), errno: -result) }
    return result
}
