# Shared settings of the lab. Sourced by the lab scripts; see README.md.
# The contract other tools rely on: namespaces, addresses and out/env.
set -euo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LAB_ROOT/../.." && pwd)
OUT=${LAB_OUT:-$LAB_ROOT/out}
TOOLS=${GATEHOUSE_TOOLS:-$HOME/.cache/gatehouse-tools}
GATEHOUSE_BIN=${GATEHOUSE_BIN:-$OUT/bin/gatehouse}
MINIO_BIN=${MINIO_BIN:-$TOOLS/bin/minio}
# Pinned: the version measured in FIELD-NOTES.md.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

NS_AGENT=gh-agent
NS_GW=gh-gw
NS_AWS=gh-aws
AGENT_IP=10.77.1.2
GW_AGENT_IP=10.77.1.1
GW_AWS_IP=10.77.2.1
AWS_IP=10.77.2.2
# A second "internet" address for tests that need an upstream of their own
# (a certificate not valid for its name, a counter of what reaches it).
AWS_IP2=10.77.2.3
# The lab's OIDC issuer (deploy/lab/oidc), where agents' workload tokens
# come from. Gatehouse reaches it directly from gh-gw.
OIDC_IP=10.77.2.4
OIDC_HOST=oidc.lab.gatehouse.test
OIDC_ISSUER=https://$OIDC_HOST
# What AWS expects as the audience of web identity tokens.
OIDC_AUDIENCE=sts.amazonaws.com
OIDC_BIN=$OUT/bin/oidc
# DynamoDB, Secrets Manager and SSM for agents (deploy/lab/services): one
# TLS endpoint routing by Host, DynamoDB to dynalite on DYNALITE_ADDR, which
# only gh-aws's loopback reaches.
SERVICES_IP=10.77.2.5
SERVICES_BIN=$OUT/bin/services
DYNALITE_DIR=$LAB_ROOT/dynalite
DYNALITE_ADDR=127.0.0.1:4567
# The role agents name with their token (out/env): Gatehouse answers the
# exchange itself.
LAB_ROLE_ARN=arn:aws:iam::000000000000:role/gatehouse-agent
# The role Gatehouse assumes upstream for agents in group admins, at an STS
# the e2e tests run on AWS_IP2 (it forwards to MinIO's AssumeRole).
LAB_ADMIN_ROLE_ARN=arn:aws:iam::000000000000:role/gatehouse-admins
STS_UPSTREAM_HOST=sts-upstream.lab.gatehouse.test
AGENT_NET=10.77.1.0/24
PROXY_PORT=3128
TPROXY_PORT=15001

LAB_REGION=us-east-1
LAB_BUCKET=gh-lab
MINIO_USER=gatehouse-lab
MINIO_PASSWORD=gatehouse-lab-secret-1

# Hostnames the agents resolve to the lab's "internet". Hosts files have no
# wildcards: each virtual-host bucket name is listed.
# Virtual-host buckets: $LAB_BUCKET and one per e2e client.
LAB_VHOST_BUCKETS="$LAB_BUCKET $LAB_BUCKET-vhost-cli $LAB_BUCKET-vhost-js $LAB_BUCKET-vhost-go prod-x held-x gh-lab-pii"
AWS_HOSTS="s3.amazonaws.com s3.$LAB_REGION.amazonaws.com sts.amazonaws.com sts.$LAB_REGION.amazonaws.com
iam.amazonaws.com $(for b in $LAB_VHOST_BUCKETS; do echo $b.s3.amazonaws.com $b.s3.$LAB_REGION.amazonaws.com; done)"
# Resolved to SERVICES_IP; deploy/lab/lab.go names them too (HostAddr).
SERVICES_HOSTS="dynamodb.$LAB_REGION.amazonaws.com secretsmanager.$LAB_REGION.amazonaws.com ssm.$LAB_REGION.amazonaws.com"
# Resolved to AWS_IP2, where tests run upstreams of their own; make
# bench's small calls go to BENCH_HOST there (lab.go names it too), so
# that proxies that resolve the name they are asked for (squid,
# mitmproxy, goproxy, Gatehouse's explicit proxy) reach the bench's
# upstream, not the lab's DynamoDB.
BENCH_HOST=dynamodb.us-west-2.amazonaws.com
TEST_HOSTS="impostor.amazonaws.com $BENCH_HOST"

log() { printf '[lab] %s\n' "$*" >&2; }
die() { printf '[lab] error: %s\n' "$*" >&2; exit 1; }
