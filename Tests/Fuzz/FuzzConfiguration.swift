// libFuzzer target: the configuration parser, on a whole file's bytes. Every line must come out as
// an entry or a problem naming its line, never a crash; ports are always 1-65535.
let database = ServicesDatabase { name, transport in
    name == "ipp" && transport == .tcp ? 631 : (name == "rsync" ? 873 : nil)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let loader = ConfigurationLoader(directories: [], servicesDatabase: database)
    let (entries, problems) = loader.parse(bytes, file: "fuzz")
    let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
    for entry in entries where entry.line < 1 || entry.line > lines || entry.ports.contains(where: { $0.port == 0 }) {
        fatalError("bad entry \(entry)")
    }
    for problem in problems where problem.line.map({ $0 < 1 || $0 > lines }) ?? true {
        fatalError("problem without its line: \(problem)")
    }
    return 0
}
