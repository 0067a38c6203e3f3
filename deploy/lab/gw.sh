#!/usr/bin/env bash
# gw.sh start|stop|kill: Gatehouse in gh-gw, as the lab runs it.
source "$(dirname "$0")/lib.sh"
pidfile=$OUT/gatehouse.pid
case "${1:-}" in
start)
  log "gatehouse serve in $NS_GW"
  # One descriptor per agent connection and one per upstream connection:
  # make bench's idle workload holds 10,000 agent connections open. Where
  # the hard limit cannot be raised (no CAP_SYS_RESOURCE, as in some
  # containers), up to it.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  # GATEHOUSE_SERVE_ARGS: extra flags, e.g. --pprof 127.0.0.1:6060 for profiling.
  # GATEHOUSE_CONFIG: another config file (default out/gatehouse.yaml).
  # Gatehouse's own upstream credentials are MinIO's root keys, given to
  # it alone, in a clean environment (no CA or AWS variable of this machine).
  ip netns exec $NS_GW env -i PATH=/usr/bin:/bin HOME="$OUT/gw" \
    AWS_ACCESS_KEY_ID=$MINIO_USER AWS_SECRET_ACCESS_KEY=$MINIO_PASSWORD AWS_REGION=$LAB_REGION \
    AWS_CA_BUNDLE="$OUT/pki/public-ca.pem" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    AWS_EC2_METADATA_DISABLED=true \
    "$GATEHOUSE_BIN" serve -c "${GATEHOUSE_CONFIG:-$OUT/gatehouse.yaml}" ${GATEHOUSE_SERVE_ARGS:-} >> "$OUT/gatehouse.log" 2>&1 &
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
