/// The services that name one port. Nearly every port has one, kept inline; only a port named by
/// several takes an array for the others. An array for every service (`[name]`, shared by its
/// ports) was a 48-byte heap block each, made while the configuration was in memory and so
/// scattered among its blocks: once the configuration was freed, those blocks kept most of its
/// pages resident (at 1,000 services, 140 to 280 KB of heap holes, by the configuration's paths).
struct PortOwners: RandomAccessCollection, Equatable {
    private var head: String?
    /// Empty (no allocation) unless the port has more than one owner.
    private var rest: [String] = []

    init() {}

    init(_ names: some Sequence<String>) {
        for name in names { append(name) }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { head == nil ? 0 : 1 + rest.count }

    subscript(position: Int) -> String {
        precondition(position >= 0 && position < endIndex, "owner index out of range")
        return position == 0 ? head! : rest[position - 1]
    }

    mutating func append(_ name: String) {
        if head == nil { head = name } else { rest.append(name) }
    }
}
