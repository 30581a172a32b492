// The request protocol and its client are a module of their own, so that portrelease links
// neither the daemon nor libsystemd; the daemon core builds on it.
@_exported import PortReserveProtocol
// The configuration's layering and hook directives, shared with portreserve-generator.
@_exported import PortReserveConfiguration
