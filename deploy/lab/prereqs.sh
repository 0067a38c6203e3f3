#!/usr/bin/env bash
# Installs what the lab, the e2e tests and the demo need on a fresh machine
# (Debian 12, root): Debian packages, MinIO built with `go install` into a
# cache dir, and the JS SDK and dynalite from their lockfiles. Skips
# whatever is present. With --bench (make bench), also the peers the
# benchmark compares Gatehouse with: squid with ssl-bump and mitmproxy.
source "$(dirname "$0")/lib.sh"
bench=false
case "${1:-}" in
--bench) bench=true;;
"") ;;
*) die "usage: prereqs.sh [--bench]";;
esac

pkgs=()
[ -x /usr/bin/aws ] || pkgs+=(awscli)
command -v ip >/dev/null || pkgs+=(iproute2)
command -v openssl >/dev/null || pkgs+=(openssl)
command -v curl >/dev/null || pkgs+=(curl)
command -v nft >/dev/null || pkgs+=(nftables) # for humans debugging; Gatehouse itself uses netlink
command -v tshark >/dev/null || pkgs+=(tshark)  # reads recorder/export's pcapng in its tests
if $bench; then
  # squid-openssl, not squid: only it has ssl-bump and security_file_certgen.
  # Neither is started by its package here (no systemd): the bench runs them.
  [ -x /usr/lib/squid/security_file_certgen ] || pkgs+=(squid-openssl)
  command -v mitmdump >/dev/null || pkgs+=(mitmproxy)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  log "apt-get install ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; no (it only reads files here).
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

if [ ! -x "$MINIO_BIN" ]; then
  log "building MinIO $MINIO_VERSION into $TOOLS/bin (about 6 minutes on a cold machine)"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION"
fi

# Again whenever a lockfile is newer than what npm last installed.
npm_ci() { # npm_ci DIR WHAT
  if [ ! -d "$1/node_modules" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    log "npm ci in ${1#$REPO_ROOT/} ($2; versions locked)"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
npm_ci "$REPO_ROOT/e2e/clients/js" "AWS SDK for JavaScript v3, har-validator"
npm_ci "$DYNALITE_DIR" "dynalite, the lab's DynamoDB"
log "prerequisites present"
