// The daemon core: configuration, reservations, the request protocol and the daemon loop.
