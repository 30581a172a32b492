import CLinux

/// Gives the kernel back the free pages of the heap that glibc would otherwise keep: after a
/// burst of short-lived allocations, they stay resident until the process exits. Returns whether
/// any memory was released. Wraps `malloc_trim(3)`.
@discardableResult
public func returnFreedHeapMemory() -> Bool {
    malloc_trim(0) == 1
}
