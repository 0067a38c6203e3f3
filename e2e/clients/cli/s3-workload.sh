#!/usr/bin/env bash
# Gatehouse e2e S3 workload for the unmodified AWS CLI v2 (Debian's awscli,
# /usr/bin/aws).
#
# Runs: create bucket -> put a small object (s3api put-object) -> upload a
# 20 MiB random file with `aws s3 cp` (multipart, 5 MiB chunks => 4 parts) ->
# list -> download both with `aws s3 cp` and cmp -> awkward keys (for each of
# four keys with characters SigV4 canonicalization must get right: s3api
# put-object, head-object, get-object and cmp, list-objects-v2 by prefix where
# the key must come back exactly, delete-object, list again to prove it is
# gone) -> presigned GET of the small object (`aws s3 presign`, fetched with
# curl --cacert "$AWS_CA_BUNDLE", --proxy "$HTTPS_PROXY" when set, and cmp) ->
# delete both objects -> delete bucket. One line per step on stdout; exits
# non-zero with a message on stderr at the first failure.
#
# Configuration comes only from the environment:
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_CA_BUNDLE,
#   HTTPS_PROXY (optional)               read by the CLI itself
#   LAB_BUCKET                           bucket name prefix (not needed with LAB_BUCKET_NAME)
#   LAB_BUCKET_NAME                      optional exact bucket name (overrides the prefix)
#   LAB_SKIP_BUCKET_CREATE=1             optional: use the existing bucket LAB_BUCKET_NAME
#                                        (checked with head-bucket), do not create it and
#                                        do not delete it at the end; other keys in it
#                                        are tolerated by the listing check
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
PRESIGN_EXPIRES=300
# Keys that must survive SigV4 canonicalization (path and query encoding)
# through a re-signing proxy unchanged: space and plus; a literal percent-2F
# (not a slash); multi-byte UTF-8; unreserved ~ and the query-special = and &.
AWKWARD_KEYS=(
	'dir/a b+c.txt'
	'enc%2Fslash.txt'
	'unicodé/ключ-日本.txt'
	'tilde~and=equals&amp.txt'
)

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
REQUIRED=(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION)
# Or a web identity token and a role: the CLI calls STS itself.
[[ -z ${AWS_WEB_IDENTITY_TOKEN_FILE:-} ]] || REQUIRED=(AWS_ROLE_ARN AWS_REGION)
[[ -n ${LAB_BUCKET_NAME:-} ]] || REQUIRED+=(LAB_BUCKET)
for v in "${REQUIRED[@]}"; do
	[[ -n ${!v:-} ]] || die "environment variable $v is required"
done
SKIP_CREATE=no
case ${LAB_SKIP_BUCKET_CREATE:-} in
"" | 0) ;;
1)
	SKIP_CREATE=yes
	[[ -n ${LAB_BUCKET_NAME:-} ]] || die "LAB_SKIP_BUCKET_CREATE=1 needs LAB_BUCKET_NAME, the existing bucket"
	;;
*) die "LAB_SKIP_BUCKET_CREATE must be 1 (or unset), got \"$LAB_SKIP_BUCKET_CREATE\"" ;;
esac
command -v curl >/dev/null || die "curl not found (needed for the presigned GET)"
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

# 1. create bucket (or check that the existing one is there)
if [[ $SKIP_CREATE == yes ]]; then
	STEP=head-bucket
	"${AWS[@]}" s3api head-bucket --bucket "$BUCKET" --output text >/dev/null
	say head-bucket "$BUCKET exists, LAB_SKIP_BUCKET_CREATE=1: not created"
else
	STEP=create-bucket
	CREATE_ARGS=(--bucket "$BUCKET")
	if [[ $AWS_REGION != us-east-1 ]]; then
		CREATE_ARGS+=(--create-bucket-configuration "LocationConstraint=$AWS_REGION")
	fi
	"${AWS[@]}" s3api create-bucket "${CREATE_ARGS[@]}" --output text >/dev/null
	say create-bucket "$BUCKET"
fi

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
# An existing bucket (LAB_SKIP_BUCKET_CREATE=1) may hold other keys.
((NKEYS == 2)) || [[ $SKIP_CREATE == yes ]] || die "listing has $NKEYS keys, want 2"
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

# list_prefix KEY: the keys listed under prefix KEY, one per line (the CLI
# asks for encoding-type=url and decodes the keys itself).
list_prefix() {
	"${AWS[@]}" s3api list-objects-v2 --bucket "$BUCKET" --prefix "$1" \
		--query 'Contents[].[Key]' --output text
}

# 6. awkward keys: each is put, read back, listed and deleted here.
mkdir "$TMP/awkward"
i=0
for key in "${AWKWARD_KEYS[@]}"; do
	i=$((i + 1))
	q="\"$key\""
	src="$TMP/awkward/$i.src" dst="$TMP/awkward/$i.dst"
	printf 'key %s from the gatehouse %s e2e client, run %s\n' "$q" "$CLIENT" "$SUFFIX" >"$src"
	size=$(stat -c %s "$src")

	STEP="put-key $q"
	"${AWS[@]}" s3api put-object --bucket "$BUCKET" --key "$key" --body "$src" \
		--content-type text/plain --output text >/dev/null
	say put-key "$q $size bytes"

	STEP="head-key $q"
	got=$("${AWS[@]}" s3api head-object --bucket "$BUCKET" --key "$key" --query ContentLength --output text)
	[[ $got == "$size" ]] || die "content-length $got, want $size"
	say head-key "$q content-length $size"

	STEP="get-key $q"
	"${AWS[@]}" s3api get-object --bucket "$BUCKET" --key "$key" "$dst" --output text >/dev/null
	cmp -s "$src" "$dst" || die "downloaded content differs from what was uploaded"
	say get-key "$q $(stat -c %s "$dst") bytes identical"

	STEP="list-key $q"
	LISTED=$(list_prefix "$key")
	[[ $LISTED == "$key" ]] || die "prefix listing returned [${LISTED//$'\n'/, }], want exactly [$key]"
	say list-key "$q listed exactly"

	STEP="delete-key $q"
	"${AWS[@]}" s3api delete-object --bucket "$BUCKET" --key "$key" --output text >/dev/null
	LISTED=$(list_prefix "$key")
	[[ -z $LISTED || $LISTED == None ]] || die "still listed after delete: [${LISTED//$'\n'/, }]"
	say delete-key "$q deleted, no longer listed"
done

# 7. presigned GET of the small object, fetched with curl instead of the CLI
STEP=presigned-get
URL=$("${AWS[@]}" s3 presign "s3://$BUCKET/$SMALL_KEY" --expires-in "$PRESIGN_EXPIRES")
[[ $URL == http*'X-Amz-Signature='* ]] || die "aws s3 presign did not return a signed URL"
CURL=(curl --silent --show-error --globoff --max-time 120 -o "$TMP/down/presigned" -w '%{http_code}')
[[ -n ${AWS_CA_BUNDLE:-} ]] && CURL+=(--cacert "$AWS_CA_BUNDLE")
VIA=""
PROXY_URL=${HTTPS_PROXY:-${https_proxy:-}}
if [[ -n $PROXY_URL ]]; then
	CURL+=(--proxy "$PROXY_URL")
	VIA="through HTTPS_PROXY, "
fi
CODE=$("${CURL[@]}" "$URL")
[[ $CODE == 200 ]] || die "http $CODE: $(head -c 300 "$TMP/down/presigned")"
cmp -s "$TMP/$SMALL_KEY" "$TMP/down/presigned" || die "presigned GET content differs from what was uploaded"
# The query holds the credential and signature: print the URL without it.
say presigned-get "$SMALL_KEY via ${URL%%\?*}, expires ${PRESIGN_EXPIRES}s, ${VIA}http $CODE, $(stat -c %s "$TMP/down/presigned") bytes identical"

# 8. delete both objects
for key in "$SMALL_KEY" "$LARGE_KEY"; do
	STEP="delete-object $key"
	"${AWS[@]}" s3api delete-object --bucket "$BUCKET" --key "$key" --output text >/dev/null
	say delete-object "$key"
done

# 9. delete bucket, unless it was there before us
if [[ $SKIP_CREATE == yes ]]; then
	say keep-bucket "$BUCKET left in place, LAB_SKIP_BUCKET_CREATE=1"
else
	STEP=delete-bucket
	"${AWS[@]}" s3api delete-bucket --bucket "$BUCKET"
	say delete-bucket "$BUCKET"
fi

echo "[$CLIENT] PASS"
