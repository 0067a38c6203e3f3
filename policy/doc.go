// Package policy decides what a described AWS call may do: allow, deny, or
// hold for a human's approval, and which mask profile applies. It is pure:
// a described call in, a decision out. It never dials, signs or records, and
// imports no other Gatehouse package beyond its own sub-packages.
//
// Built in issue [3/6]; until then intercept's chain allows every admitted
// call.
package policy
