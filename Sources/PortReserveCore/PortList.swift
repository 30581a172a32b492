import PortReserveProtocol

/// A service's ports as the reservation table keeps them for the daemon's life. Most services
/// name one port or two (a name from /etc/services stands for its tcp and its udp port): those
/// are kept inline, and only a longer list takes an array. An array for every service was a heap
/// block of 40 to 48 bytes each, left between the freed blocks of the configuration it was read
/// from.
struct PortList: RandomAccessCollection, Equatable {
    private enum Storage: Equatable {
        /// Up to two ports; a nil one and those after it are not there.
        case inline(PortKey?, PortKey?)
        case array([PortKey])
    }

    private let storage: Storage

    init(_ ports: [PortKey]) {
        switch ports.count {
        case 0: storage = .inline(nil, nil)
        case 1: storage = .inline(ports[0], nil)
        case 2: storage = .inline(ports[0], ports[1])
        default: storage = .array(ports)
        }
    }

    var startIndex: Int { 0 }

    var endIndex: Int {
        switch storage {
        case .inline(nil, _): 0
        case .inline(_, nil): 1
        case .inline: 2
        case .array(let ports): ports.count
        }
    }

    subscript(position: Int) -> PortKey {
        switch storage {
        case .inline(let first, let second):
            precondition(position >= 0 && position < endIndex, "port index out of range")
            return position == 0 ? first! : second!
        case .array(let ports):
            return ports[position]
        }
    }
}
