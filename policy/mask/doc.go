// Package mask redacts what agents must not read from AWS responses, in a
// form their SDKs still accept.
//
//	set, err := mask.Parse("policy.yaml", data, mask.Options{HashKey: key})
//	...
//	p, _ := set.Profile(decision.MaskProfile) // "" is the built-in default
//	m := p.For("secretsmanager:GetSecretValue")
//	out, report, err := m.JSON(body) // or m.XML(body), m.Text(b)
//	if err != nil {
//		// errors.Is(err, mask.ErrMalformed): refuse the response
//	}
//	// report["secret-value"] == 1; the values themselves are never kept
//
// A Profile has field rules (paths in JSON documents, DynamoDB's typed
// AttributeValues seen through, element paths in XML) for some IAM
// actions, detectors that scan every other string value, and replacers
// (fixed text, the last N characters, a keyed hash). The built-in
// profile (Default) masks credentials, secrets, SecureString parameters,
// Lambda environment variables and database passwords; it applies unless
// a rule names the profile "none" or one that says defaults: false.
//
// # What it owns
//
// The detectors (AWS access key ids and secret keys, PEM private keys,
// JWTs, emails, payment cards, US SSNs, custom regexes, deny lists), the
// replacers, the masks section of the policy file (Parse, ParseNode,
// strict, errors at file:line:col), the built-in profile, and the JSON
// and XML maskers, which change only the masked values and copy every
// other byte. The streaming maskers for text, CSV and gzip bodies live
// here too and share the detectors and replacers.
//
// # What it never does
//
// It never decides whether a call may happen, never touches headers,
// lengths or checksums (the caller fixes them up), and never logs, prints
// or reports a value it masked: reports count by rule and detector name.
// It fails closed: a body it cannot parse is an error (ErrMalformed), not
// a body passed on unmasked. It imports no other Gatehouse package.
//
// # Who imports it
//
// policy, which reads the masks section of the policy file and names a
// profile in each decision, and intercept's chain, which masks responses
// (and request bodies in the recording) with the profile decided.
package mask
