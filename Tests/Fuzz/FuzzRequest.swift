// libFuzzer target: the control socket's request decoder, and every reply decoder a client uses.
// Whatever the bytes, decoding must return a value or an error, never crash, and a request that
// decodes must encode back to something that decodes to the same request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if case .success(let request) = RequestCodec.decode(bytes, truncated: false) {
        let again = RequestCodec.decode(RequestCodec.encode(request), truncated: false)
        if case .legacyRelease = request {} else if again != .success(request) {
            fatalError("\(request) does not survive encoding: \(again)")
        }
    }
    _ = RequestCodec.decodeReleaseReply([bytes])
    _ = RequestCodec.decodeReleaseReply([bytes, bytes])
    _ = RequestCodec.decodeReclaimReply([bytes])
    _ = RequestCodec.decodeReclaimReply([bytes, bytes])
    return 0
}
