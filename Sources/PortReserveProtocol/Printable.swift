/// `text` safe to put in a journal entry, a reply or a terminal line: control characters (C0, DEL,
/// C1), Unicode format characters (bidirectional overrides, zero-width marks) and line or
/// paragraph separators become `\u{XXXX}`, and a backslash becomes `\\`, so nothing a sender
/// chose can start a new line, reorder what an operator reads, or pass for an escape of ours.
public func printable(_ text: some StringProtocol) -> String {
    // Printable ASCII, the usual case, is returned as it is.
    if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }) { return String(text) }
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
