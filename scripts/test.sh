#!/usr/bin/env bash
# `npm test`: the suite in two lanes, one vitest each (each with its own dev server, from the global setup). The
# fault-injection, browser and reboot tests mostly wait (heartbeat timeouts after a killed worker, reboots, a browser), so
# they run beside the rest: on 2 cores the suite takes about half as long. The hostile-input corpus (CPU-bound, no
# waits) and start-survives (a stack restarting its parts, mostly waiting) join them to even the two lanes out (a
# fresh clone's run: 741 s for this lane, 735 s for the other). Their labs use subnets of their own.
# The exit status fails when either lane fails; Ctrl-C or a TERM stops both.
set -u
cd "$(dirname "$0")/.."
WAITING=(test/kill-boundaries.test.ts test/faults.test.ts test/ui.test.ts test/hypervisorReboot.test.ts test/hostile.test.ts test/start-survives.test.ts)
log=$(mktemp)
vitest=node_modules/.bin/vitest
"$vitest" run "${WAITING[@]}" > "$log" 2>&1 &
waiting=$!
"$vitest" run "${WAITING[@]/#/--exclude=}" &
rest=$!
trap 'kill -TERM "$waiting" "$rest" 2>/dev/null' INT TERM
status() { local rc; while :; do wait "$1"; rc=$?; kill -0 "$1" 2>/dev/null || return "$rc"; done; }
status "$rest"; rest_rc=$?
status "$waiting"; waiting_rc=$?
echo
echo "=== the fault-injection and browser tests (run beside the others) ==="
cat "$log"
rm -f "$log"
[ "$rest_rc" = 0 ] && [ "$waiting_rc" = 0 ]
