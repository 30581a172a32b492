/// The journal MESSAGE_ID of each kind of event, fixed forever so that `journalctl MESSAGE_ID=…`
/// and catalog entries keep working across versions.
public enum MessageID {
    public static let reserved = "9dbd1849e9804920b86e11e63088d27a"
    public static let conflict = "ab57dacccb764bd18480305c9a31798f"
    public static let released = "3c350dc25a4e407a9eb3c30081b07c30"
    public static let refused = "4215d3ce9fcc41bbbc4a821510965d1e"
    public static let badRequest = "b0853be4fbc04e3291cb205aac63f1e3"
    public static let ready = "d64a166e26574b7e8bdae29b28abc64a"
    public static let configurationProblem = "5837dc1746f14f2c9c7897e183b01462"
    public static let notHeld = "d227206f61c44e03ba3bfad60e708ec7"
    public static let stopping = "8f4eb7b5699442859db1a1a84c549ffc"
}

/// The journal fields the daemon writes, one name each, as the README's table lists them:
/// `journalctl PORTRESERVE_SERVICE=cups` and scripts depend on the spelling.
public enum JournalFieldName {
    public static let messageID = "MESSAGE_ID"
    public static let service = "PORTRESERVE_SERVICE"
    public static let port = "PORTRESERVE_PORT"
    public static let transport = "PORTRESERVE_PROTOCOL"
    public static let family = "PORTRESERVE_FAMILY"
    public static let holder = "PORTRESERVE_HOLDER"
    public static let requesterPID = "PORTRESERVE_REQUESTER_PID"
    public static let requesterUID = "PORTRESERVE_REQUESTER_UID"
    public static let requesterUnit = "PORTRESERVE_REQUESTER_UNIT"
    public static let file = "PORTRESERVE_FILE"
    public static let line = "PORTRESERVE_LINE"
    public static let suppressed = "PORTRESERVE_SUPPRESSED"
    /// In the `ready` entry: ports and sockets held, services holding something, sockets retried.
    public static let ports = "PORTRESERVE_PORTS"
    public static let sockets = "PORTRESERVE_SOCKETS"
    public static let services = "PORTRESERVE_SERVICES"
    public static let retrying = "PORTRESERVE_RETRYING"
}
