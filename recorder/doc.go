// Package recorder stores every call as a tamper-evident, searchable record
// in Badger and exports recordings to S3. It stores and never decides, and
// imports no other Gatehouse package beyond its own sub-packages.
//
// Built in issue [4/6]; until then a call's only trace is its log line.
package recorder
