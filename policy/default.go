package policy

import "sync"

// DefaultPolicy is the policy Gatehouse runs without a policy file: allow
// every identified call, deny the ones intercept could not identify. It
// keeps the lab and demos working out of the box; production ships a
// file with "default: deny".
const DefaultPolicy = `version: 1
default: allow
rules:
  - id: builtin-deny-unknown
    effect: deny
    actions: ["*:Unknown"]
`

var defaultPolicy = sync.OnceValue(func() *Policy {
	p, err := Parse("builtin", []byte(DefaultPolicy))
	if err != nil {
		panic("policy: the built-in policy does not compile: " + err.Error())
	}
	return p
})

// Default is the built-in policy, DefaultPolicy compiled.
func Default() *Policy { return defaultPolicy() }
