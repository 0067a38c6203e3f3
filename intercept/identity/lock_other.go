//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package identity

import "os"

// Gatehouse runs on Linux; elsewhere (a developer's build) writers within
// one process are still serialised by the stores' mutexes.
func lockFile(*os.File) error   { return nil }
func unlockFile(*os.File) error { return nil }
