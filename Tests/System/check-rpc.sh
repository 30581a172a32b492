#!/bin/bash
# Runs inside the booted container, at every one of three boots, with the real rpcbind, rpc.statd,
# sm-notify (a peer to notify), cupsd and rsync --daemon enabled, and most of 600-1023 reserved.
# Writes one line per check to the results file, which the runner reads after poweroff.
set -u
T=/usr/local/lib/portreserve-test
RESULTS=/var/tmp/portreserve-results
BOOT=$(cat /var/tmp/portreserve-boot 2>/dev/null || echo 1)
LAST_BOOT=$(cat /var/tmp/portreserve-boots 2>/dev/null || echo 3)
: > "$RESULTS"
pass() { echo "PASS $1" >> "$RESULTS"; }
fail() { echo "FAIL $1: $2" >> "$RESULTS"; }
check() { # check NAME DETAIL COMMAND...
    local name=$1 detail=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$detail"; fi
}
state() { $T/probe state "$1"; }
ALL_HELD="tcp4:held udp4:held tcp6:held udp6:held"
mono() { systemctl show -p "$2" --value "$1"; }
ipp_served() { printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 socat -T3 - TCP4:127.0.0.1:631 2>/dev/null | head -1 | grep -q '^HTTP/1'; }
until_ipp_served() { for _ in $(seq 100); do ipp_served && return 0; sleep 0.05; done; return 1; }
reserved=" $(tr '\n' ' ' < /etc/portreserve/rpcrange) 631 873 "

# 1. Ordering, read from systemd's own timestamps: READY=1 before network-pre.target is reached,
# and before any RPC unit started; no ordering cycle anywhere in this boot.
ready=$(mono portreserve.service ActiveEnterTimestampMonotonic)
pre=$(mono network-pre.target ActiveEnterTimestampMonotonic)
check ready-before-network-pre "portreserve ready at $ready, network-pre.target at $pre" test "$ready" -gt 0 -a "$pre" -ge "$ready"
for unit in rpcbind.service rpc-statd.service rpc-statd-notify.service cups.service rsync.service; do
    started=$(mono $unit InactiveExitTimestampMonotonic)
    check "ordered-$unit" "$unit started at $started, portreserve ready at $ready ($(systemctl is-active $unit))" \
        test "$started" -ge "$ready"
done
cycles=$(journalctl -b -o cat | grep -i 'ordering cycle' | head -3)
check no-ordering-cycle "$cycles" test -z "$cycles"
out=$(systemd-analyze verify --man=no portreserve.service portreserve.socket 2>&1)
check units-verify "$out" test -z "$out"

# 2. The real RPC programs ran, and none of them has a socket on a reserved port. sm-notify is
# still trying to reach its peer, so its socket is there to be looked at.
for program in rpcbind rpc.statd sm-notify; do
    check "running-$program" "$program is not running" pgrep -x "$program"
done
rpc_sockets=$(ss -Htuanp 2>/dev/null | grep -E '"(rpcbind|rpc\.statd|sm-notify)"')
check rpc-has-sockets "no socket of an RPC program found" test -n "$rpc_sockets"
taken=""
while read -r line; do
    [ -n "$line" ] || continue
    local_address=$(awk '{print $5}' <<< "$line"); port=${local_address##*:}
    case $reserved in *" $port "*) taken="$taken $line;" ;; esac
done <<< "$rpc_sockets"
check rpc-never-on-a-reserved-port "$taken" test -z "$taken"
conflicts=$(journalctl -b -u portreserve.service MESSAGE_ID=ab57dacccb764bd18480305c9a31798f -o cat | grep -v ':48800/udp' | head -3)
check no-boot-conflict "$conflicts" test -z "$conflicts"
for port in 600 700 999; do s=$(state $port); check "held-$port" "$s" test "$s" = "$ALL_HELD"; done

# 3. cupsd and rsync started after their release, and serve.
check cups-serves "cupsd does not answer on 631" until_ipp_served
check rsync-serves "rsync does not answer on 873" bash -c 'timeout 5 socat -T2 - TCP4:127.0.0.1:873 < /dev/null | grep -q "^@RSYNCD"'

# 4. A port held at boot by a process that then exits is held afterwards, and said so once.
# A bind attempt cannot tell who holds it: status says whether portreserve does.
conflict=$(journalctl -b -u portreserve.service MESSAGE_ID=ab57dacccb764bd18480305c9a31798f -o cat | grep ':48800/udp')
check boot-conflict-logged "no conflict logged for 48800/udp" test -n "$conflict"
early_held() { [ "$(/usr/sbin/portreserve status | grep -cE '^early +48800 +udp +ipv[46] +held ')" = 2 ]; }
for _ in $(seq 300); do early_held && break; sleep 0.1; done
check boot-conflict-held-afterwards "$(/usr/sbin/portreserve status | grep '^early')" early_held
check boot-conflict-holder-gone "socat still runs" test -z "$(pgrep -x socat)"
s=$(state 48800); check boot-conflict-bound "$s" test "$s" = "tcp4:free udp4:held tcp6:free udp6:held"
atlast=$(journalctl -b -u portreserve.service -o cat | grep -c 'holding 0.0.0.0:48800/udp for early at last')
check boot-conflict-held-logged-once "$atlast entries" test "$atlast" -eq 1
status=$(/usr/sbin/portreserve status)
check status-nothing-retrying "$(tail -1 <<< "$status")" grep -q ', 0 retrying$' <<< "$(tail -1 <<< "$status")"
check status-nothing-taken "$(grep TAKEN <<< "$status" | head -3)" test -z "$(grep TAKEN <<< "$status")"
# Who has a released port now: cupsd, in the unit that released it.
row=$(grep -E '^cups +631 +tcp +ipv4 ' <<< "$status")
check status-shows-holder "$row" grep -q 'now cupsd (pid [0-9]*, cups.service)' <<< "$row"

# 5. (first boot) TIME_WAIT on purpose, then a reclaim: the port is held again within a minute,
# and until then every tool says which socket is not held.
if [ "$BOOT" = 1 ]; then
    # HTTP/1.0 and a client that keeps its side open: cupsd closes first, so the TIME_WAIT is its own (on 631).
    (printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1) | timeout 5 socat - TCP4:127.0.0.1:631 > /dev/null 2>&1
    timewait=$(ss -Htan state time-wait '( sport = :631 )' | wc -l)
    check timewait-made "$timewait connections in TIME_WAIT on 631" test "$timewait" -gt 0
    systemctl stop cups.service
    out=$(/usr/sbin/portreserve reclaim cups 2>&1); code=$?
    check reclaim-says-not-held "exit $code: $out" test "$code" -eq 1 -a -n "$(grep -F '0.0.0.0:631/tcp is not held' <<< "$out")"
    s=$(state 631); check reclaim-kept-the-rest "$s" test "$s" = "tcp4:free udp4:held tcp6:held udp6:held"
    row=$(/usr/sbin/portreserve status | grep -E '^cups +631 +tcp +ipv4 ')
    check status-retrying "$row" grep -q ' retrying ' <<< "$row"
    systemd_status=$(systemctl show -p StatusText --value portreserve.service)
    check status-text-retrying "$systemd_status" grep -q ', 1 retrying$' <<< "$systemd_status"
    started=$(date +%s)
    out=$(/usr/sbin/portreserve reclaim --wait 75 cups 2>&1); code=$?
    took=$(( $(date +%s) - started ))
    check reclaim-wait-held "exit $code after $took s: $out" test "$code" -eq 0
    s=$(state 631); check reclaim-held-again "$s" test "$s" = "$ALL_HELD"
    atlast=$(journalctl -b -u portreserve.service -o cat | grep -c 'holding 0.0.0.0:631/tcp for cups at last')
    check reclaim-held-logged-once "$atlast entries" test "$atlast" -eq 1
    systemctl start cups.service && until_ipp_served
    check cups-after-reclaim "$(systemctl is-active cups.service)" test "$(systemctl is-active cups.service)" = active
    echo "INFO the TIME_WAIT socket was held again $took s after the reclaim" >> "$RESULTS"
fi

# 6. (last boot) Everything released, then twenty quick restarts of a hooked service under the
# unit as shipped: no start limit, no failed release, the daemon still there.
if [ "$BOOT" = "${LAST_BOOT:-3}" ]; then
    /usr/sbin/portrelease '*'
    failures=0
    for i in $(seq 20); do
        if ! systemctl restart cups.service; then
            failures=$((failures + 1)); why=${why:-"restart $i failed: $(systemctl status cups.service 2>&1 | tail -4 | tr '\n' ' ')"}
        elif ! until_ipp_served; then
            failures=$((failures + 1)); why=${why:-"restart $i does not serve: $(systemctl is-active cups.service) $(ss -Htlnp '( sport = :631 )' | tr '\n' ' ')"}
        fi
    done
    check restarts-after-everything-released "$failures of 20 restarts failed; first: ${why:-}" test $failures -eq 0
    check daemon-still-there "$(systemctl is-active portreserve.service), NRestarts=$(mono portreserve.service NRestarts)" \
        test "$(systemctl is-active portreserve.service) $(mono portreserve.service NRestarts)" = "active 0"
    check no-start-limit "$(mono portreserve.service Result)" test "$(mono portreserve.service Result)" = success
fi

systemctl poweroff --no-block
