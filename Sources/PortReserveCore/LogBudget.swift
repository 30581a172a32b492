/// How many journal entries one kind of unsolicited event may write: `limit` per `window`
/// seconds, then one summary of what was left out. A flood of bad datagrams costs a bounded number
/// of entries, so journald's per-unit rate limit never suppresses the entries that matter
/// (releases, conflicts), which are not budgeted.
struct LogBudget {
    let limit: Int
    let window: Int
    private var windowStart: Int?
    private var used = 0
    /// Events left out of the journal in the current window.
    private(set) var suppressed = 0

    init(limit: Int, window: Int) {
        self.limit = limit
        self.window = window
    }

    /// Whether the event happening `now` (seconds, monotonic) may be logged.
    mutating func allows(now: Int) -> Bool {
        if let start = windowStart, now < start + window {
            if used < limit {
                used += 1
                return true
            }
            suppressed += 1
            return false
        }
        windowStart = now
        used = 1
        return true
    }

    /// When the current window ends, if events were left out of it: the summary is due then.
    var summaryDue: Int? { suppressed > 0 ? windowStart.map { $0 + window } : nil }

    /// The count left out, once the window has ended (`now` past `summaryDue`); the budget starts
    /// again. nil while the window lasts or when nothing was left out.
    mutating func takeSuppressed(now: Int) -> Int? {
        guard let due = summaryDue, now >= due else { return nil }
        let count = suppressed
        suppressed = 0
        windowStart = nil
        used = 0
        return count
    }
}
