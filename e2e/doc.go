// Package e2e holds Gatehouse's end-to-end tests: the lab of deploy/lab
// (network namespaces gh-agent — gh-gw — gh-aws, MinIO, Gatehouse with
// `net up`), and unmodified AWS clients (AWS CLI v2, the AWS SDK for
// JavaScript v3, aws-sdk-go-v2) run inside gh-agent.
//
// They run only as root with GATEHOUSE_E2E=1 (make e2e, make test). The lab
// is torn down after the run, also when a test fails or the run is
// interrupted.
package e2e
