#!/usr/bin/env bash
# make lab-up: namespaces gh-agent — gh-gw — gh-aws, MinIO with a test
# public CA in gh-aws, Gatehouse in gh-gw with `net up`, and out/env for
# agents. Leaves everything running until down.sh.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root (network namespaces, nftables)"
[ -x "$GATEHOUSE_BIN" ] || die "no gatehouse binary at $GATEHOUSE_BIN: run 'make build'"
[ -x "$MINIO_BIN" ] || die "no MinIO at $MINIO_BIN: run 'make tools'"

"$LAB_ROOT/down.sh" --quiet
mkdir -p "$OUT"/{pki,minio-certs,minio-data,gw}

log "namespaces and links"
for ns in $NS_AGENT $NS_GW $NS_AWS; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
# veths are created inside the namespaces, never in the host's.
ip -n $NS_AGENT link add eth0 type veth peer name to-agent netns $NS_GW
ip -n $NS_AWS link add eth0 type veth peer name to-aws netns $NS_GW
ip -n $NS_AGENT addr add $AGENT_IP/24 dev eth0
ip -n $NS_GW addr add $GW_AGENT_IP/24 dev to-agent
ip -n $NS_GW addr add $GW_AWS_IP/24 dev to-aws
ip -n $NS_AWS addr add $AWS_IP/24 dev eth0
ip -n $NS_AWS addr add $AWS_IP2/24 dev eth0
for pair in "$NS_AGENT eth0" "$NS_GW to-agent" "$NS_GW to-aws" "$NS_AWS eth0"; do
  set -- $pair
  ip -n "$1" link set "$2" up
done
ip -n $NS_AGENT route add default via $GW_AGENT_IP
# The "internet" only knows the way back to the agents: no default route.
ip -n $NS_AWS route add $AGENT_NET via $GW_AWS_IP

log "hosts files"
for ns in $NS_AGENT $NS_GW; do
  mkdir -p /etc/netns/$ns
  {
    echo "127.0.0.1 localhost"
    for h in $AWS_HOSTS; do echo "$AWS_IP $h"; done
    for h in $TEST_HOSTS; do echo "$AWS_IP2 $h"; done
  } > /etc/netns/$ns/hosts
done

log "test public CA and MinIO certificate"
pki=$OUT/pki
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=Gatehouse lab public CA" -keyout "$pki/public-ca.key" -out "$pki/public-ca.pem" 2>/dev/null
san="DNS:s3.amazonaws.com,DNS:*.s3.amazonaws.com,DNS:s3.$LAB_REGION.amazonaws.com,DNS:*.s3.$LAB_REGION.amazonaws.com,DNS:sts.amazonaws.com,DNS:sts.$LAB_REGION.amazonaws.com"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=s3.amazonaws.com" \
  -keyout "$OUT/minio-certs/private.key" -out "$pki/minio.csr" 2>/dev/null
openssl x509 -req -in "$pki/minio.csr" -CA "$pki/public-ca.pem" -CAkey "$pki/public-ca.key" -CAcreateserial \
  -days 2 -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") \
  -out "$OUT/minio-certs/public.crt" 2>/dev/null
chmod 600 "$pki/public-ca.key" "$OUT/minio-certs/private.key"

log "MinIO on $AWS_IP:443 (ns $NS_AWS)"
ip netns exec $NS_AWS env -i PATH=/usr/bin:/bin HOME="$OUT" \
  MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD \
  MINIO_UPDATE=off MINIO_BROWSER=off MINIO_REGION=$LAB_REGION \
  MINIO_DOMAIN=s3.$LAB_REGION.amazonaws.com,s3.amazonaws.com \
  "$MINIO_BIN" server "$OUT/minio-data" --address $AWS_IP:443 --certs-dir "$OUT/minio-certs" \
  > "$OUT/minio.log" 2>&1 &
echo $! > "$OUT/minio.pid"

cat > "$OUT/gatehouse.yaml" <<YAML
# Lab config: embedded defaults plus the lab's upstream trust anchor.
data_dir: $OUT/gw
intercept:
  transparent:
    enabled: true
    listen: ":$TPROXY_PORT"
  proxy:
    listen: "$GW_AGENT_IP:$PROXY_PORT"
  upstream:
    ca_bundle: $pki/public-ca.pem
YAML
"$GATEHOUSE_BIN" config check "$OUT/gatehouse.yaml" >/dev/null

"$LAB_ROOT/gw.sh" start
log "net up in $NS_GW"
ip netns exec $NS_GW "$GATEHOUSE_BIN" net up --agents $AGENT_NET --listen-port $TPROXY_PORT >&2

for i in $(seq 1 100); do
  ip netns exec $NS_AWS curl -sf --cacert "$pki/public-ca.pem" --resolve s3.amazonaws.com:443:$AWS_IP \
    https://s3.amazonaws.com/minio/health/ready >/dev/null 2>&1 && break
  [ $i = 100 ] && { tail -20 "$OUT/minio.log" >&2; die "MinIO did not become ready"; }
  sleep 0.2
done

"$GATEHOUSE_BIN" ca export --data-dir "$OUT/gw" > "$OUT/gatehouse-ca.pem"
# Agents trust only Gatehouse's CA: every CA variable this machine exports
# is pointed at it.
cat > "$OUT/env" <<ENV
# Source this, then run any AWS client with: ip netns exec $NS_AGENT ...
export AWS_CA_BUNDLE=$OUT/gatehouse-ca.pem
export NODE_EXTRA_CA_CERTS=$OUT/gatehouse-ca.pem
export SSL_CERT_FILE=$OUT/gatehouse-ca.pem
export SSL_CERT_DIR=$OUT/empty-certs
export CURL_CA_BUNDLE=$OUT/gatehouse-ca.pem
export REQUESTS_CA_BUNDLE=$OUT/gatehouse-ca.pem
export AWS_REGION=$LAB_REGION
export AWS_DEFAULT_REGION=$LAB_REGION
export AWS_ACCESS_KEY_ID=$MINIO_USER
export AWS_SECRET_ACCESS_KEY=$MINIO_PASSWORD
unset AWS_SESSION_TOKEN AWS_PROFILE
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export LAB_BUCKET=$LAB_BUCKET
export LAB_PROXY=http://$GW_AGENT_IP:$PROXY_PORT
export LAB_GATEHOUSE_LOG=$OUT/gatehouse.log
ENV
mkdir -p "$OUT/empty-certs"
log "lab is up: source $OUT/env; ip netns exec $NS_AGENT /usr/bin/aws s3 ls"
