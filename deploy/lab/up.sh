#!/usr/bin/env bash
# make lab-up: namespaces gh-agent — gh-gw — gh-aws, MinIO, the OIDC
# issuer and the services (DynamoDB, Secrets Manager, SSM) with a test
# public CA in gh-aws, Gatehouse in gh-gw with `net up`,
# workload tokens, and out/env for agents (a web identity token and
# Gatehouse's CA, nothing else). Leaves everything running until down.sh.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root (network namespaces, nftables)"
[ -x "$GATEHOUSE_BIN" ] || die "no gatehouse binary at $GATEHOUSE_BIN: run 'make build'"
[ -x "$MINIO_BIN" ] || die "no MinIO at $MINIO_BIN: run 'make tools'"
[ -f "$DYNALITE_DIR/node_modules/dynalite/cli.js" ] || die "no dynalite in $DYNALITE_DIR/node_modules: run 'make prereqs'"
NODE_BIN=$(command -v node) || die "no node in PATH: needed to run dynalite"
command -v "${GO:-go}" >/dev/null || die "no go in PATH: needed to build the OIDC issuer and the services"
log "building the OIDC issuer and the services"
(cd "$REPO_ROOT" && "${GO:-go}" build -buildvcs=false -o "$OIDC_BIN" ./deploy/lab/oidc) || die "build of deploy/lab/oidc failed"
(cd "$REPO_ROOT" && "${GO:-go}" build -buildvcs=false -o "$SERVICES_BIN" ./deploy/lab/services) || die "build of deploy/lab/services failed"

# One lab per machine: refuse to tear down one that is running (another
# test run, a benchmark); leftovers of a crashed one are cleaned up.
if ip netns list | grep -qw "$NS_GW" && [ -f "$OUT/gatehouse.pid" ] && kill -0 "$(cat "$OUT/gatehouse.pid")" 2>/dev/null \
   && [ "${LAB_FORCE:-}" != 1 ]; then
  die "a lab is already up (gatehouse pid $(cat "$OUT/gatehouse.pid")): make lab-down first, or LAB_FORCE=1"
fi
"$LAB_ROOT/down.sh" --quiet
# A failure from here on leaves nothing behind.
trap 'status=$?; [ $status = 0 ] || { log "lab-up failed; tearing down"; "$LAB_ROOT/down.sh" --quiet; }; exit $status' EXIT
mkdir -p "$OUT"/{pki,minio-certs,minio-data,gw,oidc-certs,services-certs,tokens}
mkdir -p -m 700 "$OUT/oidc"

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
ip -n $NS_AWS addr add $OIDC_IP/24 dev eth0
ip -n $NS_AWS addr add $SERVICES_IP/24 dev eth0
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
    for h in $SERVICES_HOSTS; do echo "$SERVICES_IP $h"; done
    for h in $TEST_HOSTS; do echo "$AWS_IP2 $h"; done
    echo "$AWS_IP2 $STS_UPSTREAM_HOST"
    echo "$OIDC_IP $OIDC_HOST"
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
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$OIDC_HOST" \
  -keyout "$OUT/oidc-certs/tls.key" -out "$pki/oidc.csr" 2>/dev/null
openssl x509 -req -in "$pki/oidc.csr" -CA "$pki/public-ca.pem" -CAkey "$pki/public-ca.key" -CAcreateserial \
  -days 2 -extfile <(printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$OIDC_HOST") \
  -out "$OUT/oidc-certs/tls.crt" 2>/dev/null
services_san=$(for h in $SERVICES_HOSTS; do printf 'DNS:%s,' "$h"; done)
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=dynamodb.$LAB_REGION.amazonaws.com" \
  -keyout "$OUT/services-certs/tls.key" -out "$pki/services.csr" 2>/dev/null
openssl x509 -req -in "$pki/services.csr" -CA "$pki/public-ca.pem" -CAkey "$pki/public-ca.key" -CAcreateserial \
  -days 2 -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "${services_san%,}") \
  -out "$OUT/services-certs/tls.crt" 2>/dev/null
chmod 600 "$pki/public-ca.key" "$OUT/minio-certs/private.key" "$OUT/services-certs/tls.key"
# The admin API's certificate (approvers reach it at the gateway's address).
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=gatehouse admin" \
  -keyout "$pki/admin.key" -out "$pki/admin.csr" 2>/dev/null
openssl x509 -req -in "$pki/admin.csr" -CA "$pki/public-ca.pem" -CAkey "$pki/public-ca.key" -CAcreateserial \
  -days 2 -extfile <(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$GW_AGENT_IP") \
  -out "$pki/admin.crt" 2>/dev/null
chmod 600 "$pki/admin.key" "$OUT/oidc-certs/tls.key"

log "MinIO on $AWS_IP:443 (ns $NS_AWS)"
ip netns exec $NS_AWS env -i PATH=/usr/bin:/bin HOME="$OUT" \
  MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD \
  MINIO_UPDATE=off MINIO_BROWSER=off MINIO_REGION=$LAB_REGION \
  MINIO_DOMAIN=s3.$LAB_REGION.amazonaws.com,s3.amazonaws.com \
  "$MINIO_BIN" server "$OUT/minio-data" --address $AWS_IP:443 --certs-dir "$OUT/minio-certs" \
  > "$OUT/minio.log" 2>&1 &
echo $! > "$OUT/minio.pid"

log "OIDC issuer $OIDC_ISSUER on $OIDC_IP:443 (ns $NS_AWS)"
ip netns exec $NS_AWS env -i PATH=/usr/bin:/bin HOME="$OUT" \
  "$OIDC_BIN" serve --addr $OIDC_IP:443 --issuer "$OIDC_ISSUER" --dir "$OUT/oidc" \
  --cert "$OUT/oidc-certs/tls.crt" --key "$OUT/oidc-certs/tls.key" \
  > "$OUT/oidc.log" 2>&1 &
echo $! > "$OUT/oidc.pid"

# dynalite keeps its tables in memory and listens on gh-aws's loopback
# only: the services' proxy is the way in. Tables are ACTIVE at once. The
# services start empty, or with what LAB_SERVICES_SEED (a JSON file, see
# deploy/lab/services) holds.
log "dynalite on $DYNALITE_ADDR and the services on $SERVICES_IP:443 (ns $NS_AWS)"
ip netns exec $NS_AWS env -i PATH=/usr/bin:/bin HOME="$OUT" \
  AWS_ACCOUNT_ID=000000000000 AWS_REGION=$LAB_REGION \
  "$NODE_BIN" "$DYNALITE_DIR/node_modules/dynalite/cli.js" --host "${DYNALITE_ADDR%:*}" --port "${DYNALITE_ADDR##*:}" \
  --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 \
  > "$OUT/dynalite.log" 2>&1 &
echo $! > "$OUT/dynalite.pid"
ip netns exec $NS_AWS env -i PATH=/usr/bin:/bin HOME="$OUT" \
  "$SERVICES_BIN" --addr $SERVICES_IP:443 --dynamodb "http://$DYNALITE_ADDR" --region $LAB_REGION \
  --cert "$OUT/services-certs/tls.crt" --key "$OUT/services-certs/tls.key" ${LAB_SERVICES_SEED:+--seed "$LAB_SERVICES_SEED"} \
  > "$OUT/services.log" 2>&1 &
echo $! > "$OUT/services.pid"

cp "$LAB_ROOT/policy.yaml" "$OUT/policy.yaml"
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
policy:
  file: $OUT/policy.yaml
approvals:
  hold: 3s
  listen: "$GW_AGENT_IP:9443"
  cert_file: $pki/admin.crt
  key_file: $pki/admin.key
  approver_groups: [admins]
  webhooks:
    - url: http://$AWS_IP2:8080/hook
      format: json
identity:
  issuers:
    - url: $OIDC_ISSUER
      audiences: [$OIDC_AUDIENCE]
      ca_bundle: $pki/public-ca.pem
# Gatehouse signs with MinIO's root keys (its own credentials, from gw.sh's
# environment); agents in group admins get a role assumed for them at the
# STS e2e tests run (sts-upstream, which forwards to MinIO's STS).
upstream_credentials:
  region: $LAB_REGION
  sts_endpoint: https://$STS_UPSTREAM_HOST
  roles:
    - arn: $LAB_ADMIN_ROLE_ARN
      groups: [admins]
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
# As Gatehouse will fetch it: from gh-gw, by name, trusting the public CA.
for i in $(seq 1 100); do
  ip netns exec $NS_GW curl -sf --cacert "$pki/public-ca.pem" \
    "$OIDC_ISSUER/.well-known/openid-configuration" >/dev/null 2>&1 && break
  [ $i = 100 ] && { tail -20 "$OUT/oidc.log" >&2; die "OIDC issuer did not answer"; }
  sleep 0.1
done

# dynalite's health answer, through the services' TLS and proxy.
for i in $(seq 1 100); do
  ip netns exec $NS_AWS curl -sf --cacert "$pki/public-ca.pem" --resolve dynamodb.$LAB_REGION.amazonaws.com:443:$SERVICES_IP \
    https://dynamodb.$LAB_REGION.amazonaws.com/ >/dev/null 2>&1 && break
  [ $i = 100 ] && { tail -20 "$OUT/dynalite.log" "$OUT/services.log" >&2; die "the services (dynalite) did not answer"; }
  sleep 0.1
done

log "workload tokens in $OUT/tokens"
mint() { # mint FILE SUB GROUPS
  "$OIDC_BIN" mint --dir "$OUT/oidc" --issuer "$OIDC_ISSUER" --aud "$OIDC_AUDIENCE" \
    --sub "$2" --groups "$3" --ttl 12h > "$1.tmp" || die "minting the token of $2 failed"
  chmod 644 "$1.tmp"
  mv "$1.tmp" "$1"
}
mint "$OUT/tokens/agent" agent-1 agents
mint "$OUT/tokens/admin" admin-1 admins

"$GATEHOUSE_BIN" ca export --data-dir "$OUT/gw" > "$OUT/gatehouse-ca.pem"
# Agents trust only Gatehouse's CA: every CA variable this machine exports
# is pointed at it.
# write_env FILE static|oidc: static is MinIO's keys; oidc is a web identity
# token and a role to assume through STS, and no keys at all.
write_env() {
  local creds
  case "$2" in
  static) creds="export AWS_ACCESS_KEY_ID=$MINIO_USER
export AWS_SECRET_ACCESS_KEY=$MINIO_PASSWORD
unset AWS_SESSION_TOKEN AWS_PROFILE";;
  oidc) creds="unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
export AWS_WEB_IDENTITY_TOKEN_FILE=$OUT/tokens/agent
export AWS_ROLE_ARN=$LAB_ROLE_ARN
export AWS_ROLE_SESSION_NAME=agent-1";;
  esac
  cat > "$1" <<ENV
# Source this, then run any AWS client with: ip netns exec $NS_AGENT ...
export AWS_CA_BUNDLE=$OUT/gatehouse-ca.pem
export NODE_EXTRA_CA_CERTS=$OUT/gatehouse-ca.pem
export SSL_CERT_FILE=$OUT/gatehouse-ca.pem
export SSL_CERT_DIR=$OUT/empty-certs
export CURL_CA_BUNDLE=$OUT/gatehouse-ca.pem
export REQUESTS_CA_BUNDLE=$OUT/gatehouse-ca.pem
export AWS_REGION=$LAB_REGION
export AWS_DEFAULT_REGION=$LAB_REGION
$creds
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export LAB_BUCKET=$LAB_BUCKET
export LAB_PROXY=http://$GW_AGENT_IP:$PROXY_PORT
export LAB_GATEHOUSE_LOG=$OUT/gatehouse.log
export LAB_OIDC_ISSUER=$OIDC_ISSUER
export LAB_OIDC_AUDIENCE=$OIDC_AUDIENCE
ENV
}
# Agents hold a web identity token and Gatehouse's CA, nothing else.
write_env "$OUT/env" oidc
mkdir -p "$OUT/empty-certs"
log "lab is up: source $OUT/env; ip netns exec $NS_AGENT /usr/bin/aws s3 ls"
