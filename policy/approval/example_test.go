package approval_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/policy/approval"
)

// The chain's approval step for a held call, its retry, and the call
// after the approved one.
func ExampleStore_Hold() {
	dir, _ := os.MkdirTemp("", "approvals")
	defer os.RemoveAll(dir)
	store, err := approval.Open(approval.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ctx := context.Background()

	call := approval.Request{
		Identity:   approval.Identity{Issuer: "https://idp.example", Subject: "agent-7"},
		Action:     "s3:DeleteBucket",
		Resources:  []string{"arn:aws:s3:::reports"},
		Region:     "eu-west-1",
		BodySHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		Rule:       "bucket-deletes",
	}
	status, req, _ := store.Hold(ctx, call, 10*time.Millisecond)
	fmt.Println("held call:", status) // the agent gets a retryable error

	approver := approval.Principal{Issuer: "https://idp.example", Subject: "alice", Groups: []string{"sec-approvers"}}
	if _, err := store.Approve(req.ID, approver, "ticket OPS-12", 0); err != nil {
		panic(err)
	}
	status, decided, _ := store.Hold(ctx, call, 10*time.Millisecond)
	fmt.Println("retried call:", status, "by", decided.Approvals[0].Approver.Subject, "on", decided.ID == req.ID)

	status, _, _ = store.Hold(ctx, call, 10*time.Millisecond)
	fmt.Println("next identical call:", status)
	// Output:
	// held call: pending
	// retried call: approved by alice on true
	// next identical call: pending
}
