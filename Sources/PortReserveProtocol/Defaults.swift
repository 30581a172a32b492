/// The system paths, shared by the daemon and its clients so they can never disagree.
public enum Defaults {
    public static let socketPath = "/run/portreserve/socket"
    /// How long `portrelease` waits for an answer: long enough for socket activation to start the
    /// daemon, short enough not to stall a boot.
    public static let releaseTimeoutSeconds = 5.0
}
