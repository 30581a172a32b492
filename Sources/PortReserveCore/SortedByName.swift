/// Records kept by name, in name order: two arrays searched by bisection. The table's services
/// are read in name order after every batch of requests (the status) and found by name a few
/// times per request; a dictionary with a sorted copy of its keys cost twice the memory (a
/// dictionary is never more than three quarters full), and keeping the copy right was code of
/// its own. The configuration comes sorted, so start-up only appends.
struct SortedByName<Record> {
    /// Sorted, each once.
    private(set) var names: [String] = []
    private var records: [Record] = []

    var count: Int { names.count }

    mutating func reserveCapacity(_ additional: Int) {
        names.reserveCapacity(names.count + additional)
        records.reserveCapacity(records.count + additional)
    }

    /// Where `name` is, or nil.
    func index(of name: String) -> Int? {
        let position = insertionPoint(of: name)
        return position < names.count && names[position] == name ? position : nil
    }

    /// The record at `index` (from `index(of:)`), changed in place.
    subscript(at index: Int) -> Record {
        get { records[index] }
        _modify { yield &records[index] }
    }

    /// The record of `name`; setting nil removes it.
    subscript(name: String) -> Record? {
        get { index(of: name).map { records[$0] } }
        set {
            let position = insertionPoint(of: name)
            let present = position < names.count && names[position] == name
            switch (present, newValue) {
            case (true, let record?): records[position] = record
            case (true, nil):
                names.remove(at: position)
                records.remove(at: position)
            case (false, let record?):
                names.insert(name, at: position)
                records.insert(record, at: position)
            case (false, nil): break
            }
        }
    }

    /// Every index, for changing each record in place.
    var indices: Range<Int> { records.indices }

    /// The first position whose name is not before `name`; the end when `name` comes after all
    /// (checked first: it is every name of a start-up).
    private func insertionPoint(of name: String) -> Int {
        guard let last = names.last, name <= last else { return names.count }
        var low = 0, high = names.count - 1
        while low < high {
            let middle = (low + high) / 2
            if names[middle] < name { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
