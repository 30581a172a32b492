# Sourced by each scenario's checks inside the booted container: one line per check goes to the
# results file, which the runner reads from the overlay after poweroff.
T=/usr/local/lib/portreserve-test
RESULTS=/var/tmp/portreserve-results
: > "$RESULTS"
pass() { echo "PASS $1" >> "$RESULTS"; }
fail() { echo "FAIL $1: $2" >> "$RESULTS"; }
check() { # check NAME DETAIL COMMAND...
    local name=$1 detail=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$detail"; fi
}
# "tcp4:held udp4:free ...": a bind attempt per protocol and family (ss does not list bound,
# non-listening TCP sockets).
state() { $T/probe state "$1"; }
ALL_HELD="tcp4:held udp4:held tcp6:held udp6:held"
ALL_FREE="tcp4:free udp4:free tcp6:free udp6:free"
