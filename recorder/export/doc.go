// Package export copies records out of the store for people who are not
// the gateway: auditors reading S3, and the HAR and pcapng files of har.go
// and pcapng.go.
//
//	x, err := export.NewS3(store, s3.NewFromConfig(cfg), export.S3Options{
//		Bucket: "audit", Prefix: "gatehouse/gw-1", ObjectLockDays: 365,
//		StatePath: "/var/lib/gatehouse/export-s3.json",
//	})
//	...
//	res, err := x.Export(ctx) // once (gatehouse export s3), or:
//	x.Run(ctx, time.Minute, report) // continuously (gatehouse serve)
//	...
//	rep, err := export.VerifyS3(ctx, client, "audit", "gatehouse/gw-1")
//	if !rep.OK() { ... rep.Problems name the keys and seqs ... }
//
// The S3 export holds every chain entry (each intent and each completion)
// as the store keeps it, one canonical JSON per line, gzipped, under
// records/dt=YYYY-MM-DD/hour=HH/ by the record's Start in UTC: the layout
// Athena and Glue read as is (docs/athena.md has the table). Each batch of
// entries has a manifest (manifests/<first>-<last>.json) with its seq range,
// the PrevHash of its first entry and the Hash of its last, each object's
// SHA-256 and entry count, and the store's signature over the batch's last
// entry where there is one, so the chain re-verifies from S3 alone.
//
// Every object name derives from the batch's seq range and nothing is put
// over an existing key (If-None-Match), so a bucket with Object Lock and
// versioning never gets a second version of anything. A batch's range is
// fixed in pending/<first>.json before any of its objects is put, and the
// manifest goes last: a run cut short between any two puts is finished by
// the next one with the very same objects, even after more records were
// appended. With ObjectLockDays each object is put in COMPLIANCE mode
// (unless S3Options.ObjectLockMode says GOVERNANCE) for that many days.
//
// # What it owns
//
// The export layout in the bucket (records, manifests, pending markers),
// the exporter's watermark file, the manifest format, and VerifyS3, which
// checks an export the way an auditor would: objects against manifests,
// seq ranges without gap or overlap, the hash chain, checkpoint signatures,
// overwritten keys.
//
// # What it never does
//
// It never writes to the store: it reads chain entries through recorder's
// Entries, Head and LastCheckpoint. It never overwrites or deletes an
// object, even one it finds wrong; it stops with an error saying what to
// do. It never logs or prints: Export returns what it did, Run hands each
// pass to its caller, progress goes to a callback. It imports no Gatehouse
// package but recorder.
//
// # Who imports it
//
// cmd/gatehouse, for gatehouse export (s3, har, pcapng) and the continuous
// S3 export in gatehouse serve.
package export
