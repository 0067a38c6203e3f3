#!/usr/bin/env bash
# make demo: bring the lab up, run real AWS CLI commands from the agent
# namespace, show what Gatehouse logged for them, tear everything down.
source "$(dirname "$0")/lib.sh"
trap '"$LAB_ROOT/down.sh"' EXIT

"$LAB_ROOT/up.sh"
source "$OUT/env"
# A fresh HOME: the CLI caches web-identity sessions in ~/.aws/cli/cache,
# and every lab has a new gateway key ring.
mkdir -p "$OUT/agent-home"
agent() { echo; echo "agent\$ $*"; HOME="$OUT/agent-home" ip netns exec $NS_AGENT "$@"; }
bucket=$LAB_BUCKET # in the hosts file: the CLI uses virtual-host style
echo
echo "== An unmodified AWS CLI in $NS_AGENT, whose default route is Gatehouse ($NS_GW)."
echo "   It trusts only Gatehouse's CA and holds only a workload OIDC token:"
env | grep -E '^AWS_(WEB_IDENTITY_TOKEN_FILE|ROLE_ARN|ACCESS_KEY_ID|SECRET_ACCESS_KEY)=' | sed 's/^/     /'
mark=$(stat -c %s "$OUT/gatehouse.log")
agent /usr/bin/aws sts get-caller-identity
agent /usr/bin/aws s3 mb "s3://$bucket"
head -c 3000000 /dev/urandom > "$OUT/demo.bin"
agent /usr/bin/aws s3 cp --no-progress "$OUT/demo.bin" "s3://$bucket/demo.bin"
agent /usr/bin/aws s3 ls "s3://$bucket/"
agent /usr/bin/aws s3 cp --no-progress "s3://$bucket/demo.bin" "$OUT/demo.back"
cmp "$OUT/demo.bin" "$OUT/demo.back" && echo "(downloaded object is byte-identical)"
agent /usr/bin/aws s3 rb --force "s3://$bucket"

echo
echo "== The policy (deploy/lab/policy.yaml) decides every call: deleting a prod-* bucket is refused."
agent /usr/bin/aws s3 mb s3://prod-x
agent /usr/bin/aws s3 rb s3://prod-x || true

echo
echo "== Refused, nothing forwarded: real credentials for the agent, and MinIO's own key used directly."
agent /usr/bin/aws sts assume-role --role-arn arn:aws:iam::000000000000:role/admin --role-session-name demo || true
AWS_WEB_IDENTITY_TOKEN_FILE= AWS_ACCESS_KEY_ID=$MINIO_USER AWS_SECRET_ACCESS_KEY=$MINIO_PASSWORD agent /usr/bin/aws s3 ls || true

echo
echo "== What agents must not read is masked on the way back, in responses their SDKs still accept."
agent /usr/bin/aws secretsmanager create-secret --name demo/db --secret-string 'hunter2-demo-password' --query Name
agent /usr/bin/aws secretsmanager get-secret-value --secret-id demo/db --query '{Name: Name, SecretString: SecretString}'
agent /usr/bin/aws ssm put-parameter --name /demo/db/password --type SecureString --value 'hunter2-demo-param' --query Version
agent /usr/bin/aws ssm get-parameter --name /demo/db/password --with-decryption --query 'Parameter.{Type: Type, Value: Value}'
# Customer data under the lab's pii profile (policy.yaml's masks section).
AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled agent /usr/bin/aws dynamodb create-table --table-name customers --attribute-definitions AttributeName=id,AttributeType=S \
  --key-schema AttributeName=id,KeyType=HASH --billing-mode PAY_PER_REQUEST --query TableDescription.TableStatus
AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled agent /usr/bin/aws dynamodb put-item --table-name customers \
  --item '{"id":{"S":"c-1"},"ssn":{"S":"219-09-9999"},"email":{"S":"jane@pii.example"},"card":{"S":"4111111111111111"},"tier":{"S":"gold"}}'
AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled agent /usr/bin/aws dynamodb get-item --table-name customers --key '{"id":{"S":"c-1"}}' --output json

echo
echo "== Gatehouse's log for those calls (one JSON line per connection and per request):"
tail -c +$((mark + 1)) "$OUT/gatehouse.log" | jq -c 'select(.msg == "request") | {identity, operation, action, resources, decision, rule, status, verdict, code, masked, masked_by}' 2>/dev/null \
  || tail -c +$((mark + 1)) "$OUT/gatehouse.log"

echo
echo "== Every call is recorded before it leaves. The denied delete, found by search, and in full:"
gh() { echo; echo "operator\$ gatehouse $*"; "$GATEHOUSE_BIN" -c "$OUT/gatehouse.yaml" "$@"; }
gh sessions search 'action=s3:Delete* decision=deny since=1h'
denied=$("$GATEHOUSE_BIN" -c "$OUT/gatehouse.yaml" sessions search --json 'action=s3:DeleteBucket decision=deny since=1h' | jq -r '.records[-1].id')
gh sessions show "$denied"
gh audit verify

echo
echo "== Capture is fail-closed: with Gatehouse stopped, the agent cannot reach the internet directly."
"$LAB_ROOT/gw.sh" kill
agent curl -sS --connect-timeout 3 "https://s3.amazonaws.com/" || echo "(refused, as it should be)"
echo
echo "== What 'gatehouse net status' reads back over netlink in $NS_GW:"
ip netns exec $NS_GW "$GATEHOUSE_BIN" net status
