#!/usr/bin/env bash
# make lab-down: stop everything the lab started and remove every namespace,
# hosts file and generated file. Safe to run at any time, any number of times.
source "$(dirname "$0")/lib.sh"
quiet=false; [ "${1:-}" = --quiet ] && quiet=true
$quiet || log "tearing down"
for pidfile in "$OUT"/*.pid; do
  [ -f "$pidfile" ] || continue
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
done
for ns in $NS_AGENT $NS_GW $NS_AWS; do
  if ip netns list | grep -qw "$ns"; then
    # Anything still running in the namespace (a test's client, a server).
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    if [ "$ns" = $NS_GW ] && [ -x "$GATEHOUSE_BIN" ]; then
      ip netns exec $NS_GW "$GATEHOUSE_BIN" net down >/dev/null 2>&1 || true
    fi
    ip netns del "$ns"
  fi
  rm -rf "/etc/netns/$ns"
done
# Generated state, but not the binaries (bin/) that make builds.
find "$OUT" -mindepth 1 -maxdepth 1 ! -name bin -exec rm -rf {} + 2>/dev/null || true
$quiet || log "lab is down"
