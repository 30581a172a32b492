import SystemCalls

/// The error this module's calls throw when the kernel or libsystemd says no: the call, what it
/// was called on, and errno (`bind 0.0.0.0:631/tcp: Address already in use`). Named here so a
/// client of `Systemd` can catch it by name without importing the package's internal modules.
public typealias SystemError = SystemCalls.SystemError
