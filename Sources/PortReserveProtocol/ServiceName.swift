/// What may be a service name. The same rule holds for the name of a file in `/etc/portreserve`
/// and for a name in a request, so every configured service can be released by its name, and a
/// name that could not be released is never configured.
public enum ServiceName {
    /// The longest name, in bytes: a file name's limit on Linux.
    public static let maximumLength = 255

    /// Why `name` cannot be a service name, or nil. The name is quoted escaped (`printable`):
    /// whatever a sender or a file put in it never reaches a journal or a terminal raw.
    public static func whyInvalid(_ name: some StringProtocol) -> String? {
        if name.isEmpty { return "empty service name" }
        if name.utf8.count > maximumLength { return "service name longer than \(maximumLength) bytes" }
        if isPlainASCII(name, allowing: { $0 > 0x20 && $0 != UInt8(ascii: "/") }) { return nil }  // the usual case
        if name.unicodeScalars.contains(where: { $0.properties.isWhitespace || isUnprintable($0) }) {
            return "service name \"\(printable(name))\" contains spaces, control or format characters"
        }
        if name.contains("/") { return "service name \"\(printable(name))\" contains /" }
        return nil
    }
}
