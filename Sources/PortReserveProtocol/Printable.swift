/// `text` safe to put in a journal entry, a reply or a terminal line: control characters (C0, DEL,
/// C1), Unicode format characters (bidirectional overrides, zero-width marks) and line or
/// paragraph separators become `\u{XXXX}`, and a backslash becomes `\\`, so nothing a sender
/// chose can start a new line, reorder what an operator reads, or pass for an escape of ours.
public func printable(_ text: some StringProtocol) -> String {
    // Printable ASCII, the usual case, is returned as it is.
    if isPlainASCII(text, allowing: { $0 >= 0x20 && $0 != UInt8(ascii: "\\") }) { return String(text) }
    var result = ""
    for scalar in text.unicodeScalars {
        if scalar == "\\" {
            result += "\\\\"
        } else if isUnprintable(scalar) {
            result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        } else {
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}

/// Control, format and separator characters: what `printable` escapes and a service name may not hold.
func isUnprintable(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator, .unassigned, .privateUse, .surrogate: return true
    default: return false
    }
}

/// A byte string that may not be UTF-8 (a file name), readable: bytes that are not UTF-8 become
/// `\xNN`, and the rest goes through `printable`.
public func printable(bytes: some Collection<UInt8>) -> String {
    if let text = String(validating: bytes, as: UTF8.self) { return printable(text) }
    var result = ""
    var pending: [UInt8] = []
    func flush() {
        guard !pending.isEmpty else { return }
        if let text = String(validating: pending, as: UTF8.self) {
            result += printable(text)
        } else {
            for byte in pending {
                result += byte < 0x80 ? printable(String(UnicodeScalar(byte))) : "\\x" + String(byte, radix: 16, uppercase: true)
            }
        }
        pending = []
    }
    for byte in bytes {
        pending.append(byte)
        if byte < 0x80 { flush() }
    }
    flush()
    return result
}

/// Whether every byte of `text` is ASCII below DEL and passes `allowed`: the check each name and
/// each status detail goes through. The generic `text.utf8.allSatisfy` ran through a witness call
/// per byte from other modules (3,400 instructions per name under callgrind, 3.4M of a start-up at
/// 1,000 entries); over the contiguous bytes it is a plain loop.
func isPlainASCII(_ text: some StringProtocol, allowing allowed: (UInt8) -> Bool) -> Bool {
    text.utf8.withContiguousStorageIfAvailable { bytes in bytes.allSatisfy { $0 < 0x7F && allowed($0) } }
        ?? text.utf8.allSatisfy { $0 < 0x7F && allowed($0) }
}
