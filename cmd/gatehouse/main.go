// Command gatehouse is the egress gateway for autonomous agents' AWS calls.
// main only parses flags and config and wires packages; the work lives in
// ca, netsetup and intercept.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ue usageError
		if !errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(1)
	}
}

// usageError is an error cobra has already printed.
type usageError struct{ error }
