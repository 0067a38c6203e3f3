// Package recorder stores every call as a tamper-evident, searchable record.
//
//	s, err := recorder.Open(recorder.Options{Dir: dir, CheckpointKey: key})
//	...
//	if err := s.Intent(ctx, rec); err != nil {
//		// refuse the call: it would leave without a record
//	}
//	// forward the call, then:
//	err = s.Complete(ctx, rec.ID, func(r *recorder.Record) { r.Status = 200 })
//
// Intent is durably committed (fsynced) before it returns; concurrent
// intents share one commit. A completion is committed before Complete
// returns, which survives the gateway's process being killed, and reaches
// the disk with the next intent's sync or within Options.SyncEvery: a power
// loss can cost the completions of that window, never an intent, and what
// survives is a prefix of the chain. Every intent and every completion is an entry in
// one hash chain in commit order, so an entry changed, deleted or moved
// shows up in Verify; the head is signed with ed25519 at every commit and
// checkpoints pin it along the way, so entries cut from the end show too.
// A crash between Intent and Complete leaves the record listed by
// Incomplete when the store is next opened.
//
// # What it owns
//
// Records in Badger (the intent committed before a call leaves, its
// completion appended after, never rewriting the intent), their hash chain
// and signed checkpoints, and the secondary indexes Search reads (time,
// identity, action, resource, decision, session, request id, error code),
// Search over them and ParseQuery for the CLI's queries, and reading the
// chain back in order (Entries, Head, LastCheckpoint) for recorder/export,
// which writes HAR, pcapng and S3.
//
// # What it never does
//
// It never decides: it stores what it is handed and reports whether it
// could. When it cannot write durably (closed store, disk below its free
// space reserve, Badger error), Intent fails with ErrUnavailable and the
// caller refuses the call. It imports no other Gatehouse package beyond its
// own sub-packages, and it never logs or prints: Badger's logger is off and
// every condition is an error or a Verify report.
//
// # Who imports it
//
// intercept's chain (the record and complete stages), recorder/export, and
// cmd/gatehouse for serve and its own subcommands (sessions, audit,
// export).
package recorder
