// Package policy decides what a described AWS call may do. It is built in
// issue [3/6].
//
// # What it owns
//
// Decisions: allow, deny, or hold for a human's approval, and which mask
// profile applies, from a described call (identity, IAM action, resources,
// region) and the policy file.
//
// # What it never does
//
// It never dials, signs or records, and imports no other Gatehouse package
// beyond its own sub-packages: a described call in, a decision out. Until
// it exists, intercept's chain allows every authenticated call but the
// credential-vending ones.
//
// # Who imports it
//
// intercept's chain (the decide stage) and cmd/gatehouse for its own
// subcommands.
package policy
