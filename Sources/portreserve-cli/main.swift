// Run by `portreserve` for everything but the daemon itself; see Sources/portreserve/main.swift.
Portreserve.main()
