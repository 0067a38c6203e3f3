// Package recorder stores every call as a tamper-evident, searchable record
// and exports recordings for auditors. It is built in issue [4/6].
//
// # What it owns
//
// Records in Badger (the intent committed before a call leaves, its
// completion after), their hash chain and signed checkpoints, indexes for
// search, and exports to S3.
//
// # What it never does
//
// It never decides and imports no other Gatehouse package beyond its own
// sub-packages. Until it exists, a call's only trace is its log line.
//
// # Who imports it
//
// intercept's chain (the record and complete stages) and cmd/gatehouse for
// its own subcommands.
package recorder
