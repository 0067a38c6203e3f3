#!/usr/bin/env bash
# Gatehouse e2e S3 workload for the unmodified AWS CLI v2 (Debian's awscli,
# /usr/bin/aws).
#
# Runs: create bucket -> put a small object (s3api put-object) -> upload a
# 20 MiB random file with `aws s3 cp` (multipart, 5 MiB chunks => 4 parts) ->
# list -> download both with `aws s3 cp` and cmp -> delete both objects ->
# delete bucket. One line per step on stdout; exits non-zero with a message on
# stderr at the first failure.
#
# Configuration comes only from the environment:
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_CA_BUNDLE,
#   HTTPS_PROXY (optional)               read by the CLI itself
#   LAB_BUCKET                           bucket name prefix
#   LAB_S3_ADDRESSING=path|virtual       optional, default path
#   LAB_S3_ENDPOINT                      optional, passed as --endpoint-url
#   LAB_AWS_CLI                          optional, default /usr/bin/aws (must be CLI v2;
#                                        the `aws` on PATH may be an old v1 shim)
#
# CLI settings (multipart chunk size, addressing style) go to a throw-away
# AWS_CONFIG_FILE in a temp dir; ~/.aws is never read for config or written.
# TLS verification and checksums are left at CLI defaults.
set -euo pipefail

CLIENT=cli
AWS_BIN=${LAB_AWS_CLI:-/usr/bin/aws}
SMALL_KEY=hello.txt
LARGE_KEY=large.bin
MIB=$((1024 * 1024))
LARGE_SIZE=$((20 * MIB))
EXPECTED_PARTS=4 # 20 MiB / 5 MiB

STEP=setup
say() { printf '[%s] %s: ok (%s)\n' "$CLIENT" "$1" "$2"; }
die() {
	printf '[%s] FAIL at %s: %s\n' "$CLIENT" "$STEP" "$*" >&2
	exit 1
}
on_err() {
	local rc=$?
	printf '[%s] FAIL at %s: command exited %d: %s\n' "$CLIENT" "$STEP" "$rc" "$BASH_COMMAND" >&2
	exit "$rc"
}
trap on_err ERR

STEP=config
for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION LAB_BUCKET; do
	[[ -n ${!v:-} ]] || die "environment variable $v is required"
done
ADDRESSING=${LAB_S3_ADDRESSING:-path}
[[ $ADDRESSING == path || $ADDRESSING == virtual ]] ||
	die "LAB_S3_ADDRESSING must be \"path\" or \"virtual\", got \"$ADDRESSING\""
[[ -x $AWS_BIN ]] || die "$AWS_BIN not found or not executable (install Debian's awscli)"
CLI_VERSION=$("$AWS_BIN" --version 2>&1) || die "$AWS_BIN --version failed: $CLI_VERSION"
[[ $CLI_VERSION == aws-cli/2.* ]] || die "$AWS_BIN is not AWS CLI v2: $CLI_VERSION"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gh-cli-s3.XXXXXX")
cleanup() { rm -rf -- "$TMP"; }
trap cleanup EXIT

# Private CLI config: never touch ~/.aws. Only the [default] profile exists
# there, so a stray AWS_PROFILE must not select another one.
export AWS_CONFIG_FILE=$TMP/config
export AWS_SHARED_CREDENTIALS_FILE=$TMP/credentials
export AWS_PAGER=""
unset AWS_PROFILE AWS_DEFAULT_PROFILE
"$AWS_BIN" configure set default.s3.multipart_chunksize 5MB
"$AWS_BIN" configure set default.s3.addressing_style "$ADDRESSING"

AWS=("$AWS_BIN")
if [[ -n ${LAB_S3_ENDPOINT:-} ]]; then
	AWS+=(--endpoint-url "$LAB_S3_ENDPOINT")
fi

SUFFIX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
BUCKET="${LAB_BUCKET_NAME:-$LAB_BUCKET-$CLIENT-$SUFFIX}" # exact name for virtual-host style
((${#BUCKET} <= 63)) || die "bucket name \"$BUCKET\" is longer than 63 characters"
PROXY=no
[[ -n ${HTTPS_PROXY:-${https_proxy:-}} ]] && PROXY=yes
say config "bucket=$BUCKET region=$AWS_REGION addressing=$ADDRESSING endpoint=${LAB_S3_ENDPOINT:-sdk-default} proxy=$PROXY ${CLI_VERSION%% *}"

# 1. create bucket
STEP=create-bucket
CREATE_ARGS=(--bucket "$BUCKET")
if [[ $AWS_REGION != us-east-1 ]]; then
	CREATE_ARGS+=(--create-bucket-configuration "LocationConstraint=$AWS_REGION")
fi
"${AWS[@]}" s3api create-bucket "${CREATE_ARGS[@]}" --output text >/dev/null
say create-bucket "$BUCKET"

# 2. small object
STEP=put-small
LINE="hello from the gatehouse $CLIENT e2e client, run $SUFFIX"
: >"$TMP/$SMALL_KEY"
while (($(stat -c %s "$TMP/$SMALL_KEY") < 3000)); do
	printf '%s\n' "$LINE" >>"$TMP/$SMALL_KEY"
done
SMALL_SIZE=$(stat -c %s "$TMP/$SMALL_KEY")
"${AWS[@]}" s3api put-object --bucket "$BUCKET" --key "$SMALL_KEY" \
	--body "$TMP/$SMALL_KEY" --content-type text/plain --output text >/dev/null
say put-small "$SMALL_KEY $SMALL_SIZE bytes"

# 3. 20 MiB random object; aws s3 cp goes multipart above its 8 MiB threshold
STEP=put-multipart
head -c "$LARGE_SIZE" /dev/urandom >"$TMP/$LARGE_KEY"
[[ $(stat -c %s "$TMP/$LARGE_KEY") == "$LARGE_SIZE" ]] || die "could not create the $LARGE_SIZE-byte test file"
"${AWS[@]}" s3 cp "$TMP/$LARGE_KEY" "s3://$BUCKET/$LARGE_KEY" --only-show-errors
say put-multipart "$LARGE_KEY $LARGE_SIZE bytes via aws s3 cp, multipart_chunksize 5MB"

# 4. list
STEP=list
LISTING=$("${AWS[@]}" s3api list-objects-v2 --bucket "$BUCKET" \
	--query 'Contents[].[Key, to_string(Size), ETag]' --output text)
declare -A SIZE=() ETAG=()
NKEYS=0
while IFS=$'\t' read -r key size etag; do
	[[ -n $key && $key != None ]] || continue
	SIZE[$key]=$size
	ETAG[$key]=$etag
	NKEYS=$((NKEYS + 1))
done <<<"$LISTING"
for kv in "$SMALL_KEY:$SMALL_SIZE" "$LARGE_KEY:$LARGE_SIZE"; do
	key=${kv%%:*} want=${kv#*:}
	[[ -n ${SIZE[$key]:-} ]] || die "key $key missing from listing (got: ${!SIZE[*]})"
	[[ ${SIZE[$key]} == "$want" ]] || die "key $key listed with size ${SIZE[$key]}, want $want"
done
((NKEYS == 2)) || die "listing has $NKEYS keys, want 2"
LARGE_ETAG=${ETAG[$LARGE_KEY]}
[[ ${LARGE_ETAG//\"/} == *-"$EXPECTED_PARTS" ]] ||
	die "$LARGE_KEY ETag $LARGE_ETAG is not a $EXPECTED_PARTS-part multipart ETag"
say list "$NKEYS keys, sizes match, $LARGE_KEY etag $LARGE_ETAG"

# 5. download both and compare
mkdir "$TMP/down"
for key in "$SMALL_KEY" "$LARGE_KEY"; do
	STEP="get $key"
	"${AWS[@]}" s3 cp "s3://$BUCKET/$key" "$TMP/down/$key" --only-show-errors
	cmp -s "$TMP/$key" "$TMP/down/$key" || die "$key: downloaded content differs from what was uploaded"
	say get "$key $(stat -c %s "$TMP/down/$key") bytes identical"
done

# 6. delete both objects
for key in "$SMALL_KEY" "$LARGE_KEY"; do
	STEP="delete-object $key"
	"${AWS[@]}" s3api delete-object --bucket "$BUCKET" --key "$key" --output text >/dev/null
	say delete-object "$key"
done

# 7. delete bucket
STEP=delete-bucket
"${AWS[@]}" s3api delete-bucket --bucket "$BUCKET"
say delete-bucket "$BUCKET"

echo "[$CLIENT] PASS"
