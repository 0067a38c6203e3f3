#!/usr/bin/env bash
# gw.sh start|stop|kill: Gatehouse in gh-gw, as the lab runs it.
source "$(dirname "$0")/lib.sh"
pidfile=$OUT/gatehouse.pid
case "${1:-}" in
start)
  log "gatehouse serve in $NS_GW"
  # GATEHOUSE_SERVE_ARGS: extra flags, e.g. --pprof 127.0.0.1:6060 for profiling.
  ip netns exec $NS_GW "$GATEHOUSE_BIN" serve -c "$OUT/gatehouse.yaml" ${GATEHOUSE_SERVE_ARGS:-} >> "$OUT/gatehouse.log" 2>&1 &
  echo $! > "$pidfile"
  for i in $(seq 1 100); do
    ip netns exec $NS_GW bash -c "exec 3<>/dev/tcp/$GW_AGENT_IP/$PROXY_PORT" 2>/dev/null && exit 0
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -20 "$OUT/gatehouse.log" >&2; die "gatehouse exited"; }
    sleep 0.1
  done
  die "gatehouse did not start listening";;
stop|kill)
  sig=TERM; [ "$1" = kill ] && sig=KILL
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    kill -$sig "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$pidfile"
  fi;;
*) die "usage: gw.sh start|stop|kill";;
esac
