#!/usr/bin/env bash
# `npm test`: the suite in five lanes, one vitest each (each with its own dev server, from the global setup; a file's
# lab has a loopback subnet of its own, so files of different lanes run side by side). The long files mostly wait (a
# killed worker's heartbeat timeout, a reboot, a detached job, a browser): on 2 cores five lanes take about a third of
# the time one would (a run: 373 s; one lane per core: 750 s). The lanes below are balanced by their files' durations
# in such a run (faults 183 s, kill-boundaries 180 s, hypervisorReboot 120 s, hostile 112 s, …); every
# other file runs in the last. Its output shows as it runs, the others' after it. The exit status fails when any lane
# fails; Ctrl-C or a TERM stops them all.
set -u
cd "$(dirname "$0")/.."
LANES=(
  "test/kill-boundaries.test.ts test/hypervisorReboot.test.ts test/vmMigration.test.ts"
  "test/kill-boundaries-proxmox.test.ts test/faults.test.ts test/vmOnboarding.test.ts"
  "test/hostile.test.ts test/ui.test.ts test/start-survives.test.ts test/vmBackup.test.ts test/unlock.test.ts"
  "test/diskReplacement.test.ts test/nodeSeparation.test.ts test/vmDiskResize.test.ts test/vmSnapshot.test.ts test/clusterTeardown.test.ts test/vmOnboardingProxmox.test.ts"
)
vitest=node_modules/.bin/vitest
pids=() logs=() listed=()
for lane in "${LANES[@]}"; do
  read -ra files <<< "$lane"
  listed+=("${files[@]}")
  log=$(mktemp)
  "$vitest" run "${files[@]}" > "$log" 2>&1 &
  pids+=($!) logs+=("$log")
done
"$vitest" run "${listed[@]/#/--exclude=}" &
pids+=($!)
trap 'kill -TERM "${pids[@]}" 2>/dev/null' INT TERM
status() { local rc; while :; do wait "$1"; rc=$?; kill -0 "$1" 2>/dev/null || return "$rc"; done; }
failed=0
status "${pids[-1]}" || failed=1
for i in "${!LANES[@]}"; do
  status "${pids[$i]}" || failed=1
  echo
  echo "=== lane $((i + 1)): ${LANES[$i]} ==="
  cat "${logs[$i]}"
  rm -f "${logs[$i]}"
done
exit "$failed"
