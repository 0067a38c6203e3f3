#!/usr/bin/env bash
# make demo: bring the lab up, run real AWS CLI commands from the agent
# namespace, show what Gatehouse logged for them, tear everything down.
source "$(dirname "$0")/lib.sh"
trap '"$LAB_ROOT/down.sh"' EXIT

"$LAB_ROOT/up.sh"
source "$OUT/env"
agent() { echo; echo "agent\$ $*"; ip netns exec $NS_AGENT "$@"; }
bucket=$LAB_BUCKET # in the hosts file: the CLI uses virtual-host style
echo
echo "== An unmodified AWS CLI in $NS_AGENT, whose default route is Gatehouse ($NS_GW)."
echo "   It trusts only Gatehouse's CA (AWS_CA_BUNDLE=$AWS_CA_BUNDLE)."
mark=$(stat -c %s "$OUT/gatehouse.log")
agent /usr/bin/aws s3 mb "s3://$bucket"
head -c 3000000 /dev/urandom > "$OUT/demo.bin"
agent /usr/bin/aws s3 cp --no-progress "$OUT/demo.bin" "s3://$bucket/demo.bin"
agent /usr/bin/aws s3 ls "s3://$bucket/"
agent /usr/bin/aws s3 cp --no-progress "s3://$bucket/demo.bin" "$OUT/demo.back"
cmp "$OUT/demo.bin" "$OUT/demo.back" && echo "(downloaded object is byte-identical)"
agent /usr/bin/aws s3 rb --force "s3://$bucket"

echo
echo "== Gatehouse's log for those calls (one JSON line per connection and per request):"
tail -c +$((mark + 1)) "$OUT/gatehouse.log" | jq -c 'select(.msg == "request") | {mode, sni, dst, method, path, status, bytes_in, bytes_out, duration_ms, verdict}' 2>/dev/null \
  || tail -c +$((mark + 1)) "$OUT/gatehouse.log"

echo
echo "== Capture is fail-closed: with Gatehouse stopped, the agent cannot reach the internet directly."
"$LAB_ROOT/gw.sh" kill
agent curl -sS --connect-timeout 3 "https://s3.amazonaws.com/" || echo "(refused, as it should be)"
echo
echo "== What 'gatehouse net status' reads back over netlink in $NS_GW:"
ip netns exec $NS_GW "$GATEHOUSE_BIN" net status
