package policy

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/gatehouse/gatehouse/policy/mask"
)

// Policy is a compiled policy file: immutable, safe for concurrent use.
type Policy struct {
	name   string
	def    Effect
	shadow bool
	rules  []rule
	masks  *mask.Set // the masks section's profiles and the built-in ones

	// Rules that can match a call, by the call's service and the first
	// character of its action's name (firstBit), in file order. A rule
	// whose action patterns all name a service is listed under those
	// services only; any other rule is in every service's lists and in
	// anySvc, which serves the services no rule names. Decide so looks at
	// a few dozen of 500 rules.
	bySvc  map[string]*ruleIndex
	anySvc *ruleIndex
}

type ruleIndex [27][]int32 // by firstBit's bit number

// rule is one compiled rule. Omitted matchers are nil and match anything.
type rule struct {
	id           string
	effect       Effect
	rank         int // effect.rank(), kept: comparing strings costs
	shadow       bool
	mask         string
	minApprovals int
	line, col    int
	reason       string // Decision.Reason when it decides

	subjects, issuers, groups []glob
	sources                   uint8        // sourceOIDC|sourceKey|sourceAddress; 0 = any
	actions                   []actionGlob // nil: any identified action (not_actions given)
	firsts                    uint32       // first characters the action patterns' names can start with (firstBit)
	notActions                []actionGlob
	resources                 []glob
	regions                   []glob
	cond                      *condition
}

// actionGlob is an action pattern. Unidentified calls ("s3:Unknown")
// match only "*" and patterns that name Unknown ("s3:Unknown",
// "*:Unknown"): "s3:*" is written for the S3 actions someone has in mind,
// not for calls nobody could identify.
type actionGlob struct {
	glob
	svc          string // the service part, lower-case, when it is not a glob
	any          bool   // "*"
	namesUnknown bool   // the name part is "Unknown"
	svcGlob      glob   // the service part, for matching unidentified calls
}

const (
	sourceOIDC uint8 = 1 << iota
	sourceKey
	sourceAddress
)

var sourceBits = map[string]uint8{"oidc": sourceOIDC, "key": sourceKey, "address": sourceAddress}

func sourceBit(s string) uint8 {
	switch s {
	case "oidc":
		return sourceOIDC
	case "key":
		return sourceKey
	case "address":
		return sourceAddress
	}
	return 0
}

// Load reads and compiles a policy file. Errors name file:line:col; the
// returned error is an Errors listing every problem found.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return Parse(path, data)
}

// Options are what a policy needs from outside its file.
type Options struct {
	// Mask is for the masks section: the key of the hash replacer, which
	// is not in the file agents' owners may read.
	Mask mask.Options
}

// Parse compiles a policy from data; name is the file name used in
// errors.
func Parse(name string, data []byte) (*Policy, error) { return ParseWith(name, data, Options{}) }

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return ParseWith(path, data, opts)
}

// ParseWith is Parse with options.
func ParseWith(name string, data []byte, opts Options) (*Policy, error) {
	spec, errs := decodeFile(name, data)
	if spec == nil {
		return nil, errs
	}
	// Compile what decoded even when parts did not, to report every
	// problem in one go.
	c := &compiler{decoder: decoder{file: name, errs: errs, full: len(errs) > maxErrors}, opts: opts}
	p := c.policy(name, spec)
	if len(c.errs) > 0 {
		slices.SortStableFunc(c.errs, func(a, b *Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Col - b.Col
		})
		return nil, c.errs
	}
	return p, nil
}

type compiler struct {
	decoder // for errorAt and the error list
	opts    Options
}

func (c *compiler) policy(name string, spec *fileSpec) *Policy {
	p := &Policy{name: name, def: Deny, shadow: spec.shadow}
	if spec.def.node != nil && !spec.def.bad {
		p.def = Effect(spec.def.s)
		if !p.def.valid() {
			c.errorAt(spec.def.pos, "default: %q is not an effect (want allow, deny or approve)", spec.def.s)
		}
	}
	ids := map[string]pos{}
	for i := range spec.rules {
		r := c.rule(&spec.rules[i])
		if r.id != "" {
			if first, dup := ids[r.id]; dup {
				c.errorAt(spec.rules[i].id.pos, "rule id %q is used twice (first at line %d)", r.id, first.line)
			}
			ids[r.id] = spec.rules[i].id.pos
		}
		p.rules = append(p.rules, r)
	}
	p.masks = c.masks(spec)
	if p.masks != nil {
		for i := range spec.rules {
			if m := spec.rules[i].mask; p.rules[i].mask != "" && validID(m.s) {
				if _, ok := p.masks.Profile(m.s); !ok {
					c.errorAt(m.pos, "mask: no profile %q (profiles: %s); define it under masks:", m.s, strings.Join(p.masks.Names(), ", "))
				}
			}
		}
	}
	p.index()
	return p
}

// masks reads the masks section into the set of profiles rules may name,
// the built-in ones included; nil when the section has errors (reported).
func (c *compiler) masks(spec *fileSpec) *mask.Set {
	var ps []*mask.Profile
	if spec.masks != nil {
		var errs mask.Errors
		if ps, errs = mask.ParseNode(c.file, spec.masks, c.opts.Mask); len(errs) > 0 {
			c.errs = append(c.errs, errs...)
			return nil
		}
	}
	set, err := mask.NewSet(ps...)
	if err != nil {
		c.errorAt(spec.masksPos, "masks: %v", err)
		return nil
	}
	return set
}

func (c *compiler) rule(s *ruleSpec) rule {
	r := rule{id: s.id.s, shadow: s.shadow, line: s.pos.line, col: s.pos.col}
	if s.id.node != nil && !s.id.bad && !validID(s.id.s) {
		c.errorAt(s.id.pos, "id %q: want letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128", s.id.s)
	} else if s.id.s == DefaultRule {
		c.errorAt(s.id.pos, "id %q is reserved for decisions no rule made", s.id.s)
	}
	where := "rule " + s.id.s
	if s.id.s == "" {
		where = fmt.Sprintf("rule at line %d", s.pos.line)
	}

	r.effect = Effect(s.effect.s)
	switch {
	case s.effect.node == nil:
		c.errorAt(s.pos, "%s: effect is required (allow, deny or approve)", where)
	case !r.effect.valid() && !s.effect.bad:
		c.errorAt(s.effect.pos, "effect: %q is not an effect (want allow, deny or approve)", s.effect.s)
	}

	r.subjects = c.globs(s.subjects, checkNamePattern, false)
	r.issuers = c.globs(s.issuers, checkNamePattern, false)
	r.groups = c.globs(s.groups, checkNamePattern, false)
	for _, src := range s.sources {
		bit, ok := sourceBits[src.s]
		if !ok {
			c.errorAt(src.pos, "sources: %q is not an identity source (want oidc, key or address)", src.s)
		}
		r.sources |= bit
	}

	if !s.hasActions && !s.hasNots {
		c.errorAt(s.pos, "%s: actions or not_actions is required (actions: [\"*\"] for every call)", where)
	}
	r.actions = c.actionGlobs(s.actions)
	r.firsts = firstsOf(r.actions)
	r.notActions = c.actionGlobs(s.notActions)
	r.resources = c.globs(s.resources, checkResourcePattern, false)
	r.regions = c.globs(s.regions, checkRegionPattern, false)

	if s.mask.node != nil && !s.mask.bad {
		r.mask = s.mask.s
		if !validID(r.mask) {
			c.errorAt(s.mask.pos, "mask: %q is not a profile name (letters, digits, '.', '_', '-')", r.mask)
		}
	}
	if s.hasMinApprovals {
		switch {
		case r.effect != Approve:
			c.errorAt(s.minApprovalsPos, "min_approvals: only approve rules take approvals (effect is %s)", r.effect)
		case s.minApprovals < 1 || s.minApprovals > 100:
			c.errorAt(s.minApprovalsPos, "min_approvals: %d is out of range (1 to 100)", s.minApprovals)
		}
		r.minApprovals = int(s.minApprovals)
	}
	if r.effect == Approve && r.minApprovals == 0 {
		r.minApprovals = 1
	}

	if s.condition.node != nil && !s.condition.bad {
		r.cond = c.condition(s.condition)
	}
	r.reason = reason(Decision{Effect: r.effect, AppliedRule: r.id})
	r.rank = r.effect.rank()
	return r
}

func validID(s string) bool {
	if s == "" || len(s) > 128 || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (c *compiler) globs(list []str, check func(string) error, fold bool) []glob {
	if list == nil {
		return nil
	}
	out := make([]glob, 0, len(list))
	for _, s := range list {
		if err := check(s.s); err != nil {
			c.errorAt(s.pos, "%v", err)
			continue
		}
		out = append(out, compileGlob(s.s, fold))
	}
	return out
}

func (c *compiler) actionGlobs(list []str) []actionGlob {
	if list == nil {
		return nil
	}
	out := make([]actionGlob, 0, len(list))
	for _, s := range list {
		if err := checkActionPattern(s.s); err != nil {
			c.errorAt(s.pos, "%v", err)
			continue
		}
		out = append(out, compileAction(s.s))
	}
	return out
}

func compileAction(p string) actionGlob {
	a := actionGlob{glob: compileGlob(p, true)}
	if p == "*" {
		a.any = true
		return a
	}
	svc, name, _ := strings.Cut(lowerASCII(p), ":")
	a.namesUnknown = name == "unknown"
	a.svcGlob = compileGlob(svc, true)
	if !strings.ContainsAny(svc, "*?") {
		a.svc = svc
	}
	return a
}

// firstBit maps the first character of an action name (after the colon)
// to a bit, so that Decide can pass over rules whose action patterns
// cannot match before running any glob: "s3:Get*" cannot match
// "s3:PutObject". Letters fold; everything else shares a bit.
func firstBit(c byte) uint32 {
	c = lowerByte(c)
	if 'a' <= c && c <= 'z' {
		return 1 << (c - 'a')
	}
	return 1 << 26
}

const allFirsts = 1<<27 - 1

// firstsOf is the union of firstBit over what the patterns' names can
// start with; any pattern whose name starts with a wildcard (and "*", and
// an omitted actions list) can start with anything. "Unknown" patterns
// count with their 'u', which is also how unidentified calls are looked up.
func firstsOf(pats []actionGlob) uint32 {
	if pats == nil {
		return allFirsts
	}
	var m uint32
	for _, a := range pats {
		_, name, _ := strings.Cut(a.src, ":")
		if a.any || name == "" || name[0] == '*' || name[0] == '?' {
			return allFirsts
		}
		m |= firstBit(name[0])
	}
	return m
}

// condition compiles a rule's CEL condition, reporting CEL's own errors
// at their place in the file where that can be worked out.
func (c *compiler) condition(s str) *condition {
	if strings.TrimSpace(s.s) == "" {
		c.errorAt(s.pos, "condition: empty; leave it out for no condition")
		return nil
	}
	cond, issues := compileCondition(s.s)
	for _, is := range issues {
		c.errorAt(celPos(s, is.line, is.col), "condition: %s", is.msg)
	}
	return cond
}

// celPos maps a position inside a condition to the file. That is exact
// for a one-line plain or quoted scalar without escapes and for a literal
// block (|); for anything else (folded lines, escapes) it is the start of
// the condition.
func celPos(s str, line, col int) pos {
	switch n := s.node.(type) {
	case *ast.StringNode:
		tk := n.Token
		if line != 1 || tk == nil || strings.ContainsAny(s.s, "\n") {
			break
		}
		raw := strings.TrimSpace(tk.Origin)
		switch tk.Type {
		case token.StringType:
			if raw == s.s {
				return pos{s.pos.line, s.pos.col + runeCol(s.s, col)}
			}
		case token.SingleQuoteType, token.DoubleQuoteType:
			if len(raw) >= 2 && raw[1:len(raw)-1] == s.s {
				return pos{s.pos.line, s.pos.col + 1 + runeCol(s.s, col)}
			}
		}
	case *ast.LiteralNode:
		if n.Start == nil || n.Start.Type != token.LiteralType || n.Value == nil || n.Value.Token == nil {
			break
		}
		origin := n.Value.Token.Origin
		indent := len(origin) - len(strings.TrimLeft(origin, " "))
		return pos{s.pos.line + line, indent + 1 + runeCol(lineOf(s.s, line), col)}
	}
	return s.pos
}

// runeCol turns CEL's column, which counts code points, into a byte
// offset: goccy's columns count bytes... and characters, for ASCII alike.
func runeCol(s string, col int) int {
	off := 0
	for i := 0; i < col && off < len(s); i++ {
		_, n := utf8.DecodeRuneInString(s[off:])
		off += n
	}
	return off
}

func lineOf(s string, line int) string {
	for i := 1; i < line; i++ {
		_, rest, ok := strings.Cut(s, "\n")
		if !ok {
			return ""
		}
		s = rest
	}
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// index builds bySvc and anySvc.
func (p *Policy) index() {
	var wild []int32
	named := map[string][]int32{}
	for i := range p.rules {
		svcs, any := p.rules[i].services()
		if any {
			wild = append(wild, int32(i))
			continue
		}
		for _, s := range svcs {
			named[s] = append(named[s], int32(i))
		}
	}
	p.anySvc = p.byFirst(wild)
	p.bySvc = make(map[string]*ruleIndex, len(named))
	for s, list := range named {
		merged := append(slices.Clone(list), wild...)
		slices.Sort(merged)
		p.bySvc[s] = p.byFirst(slices.Compact(merged))
	}
}

func (p *Policy) byFirst(rules []int32) *ruleIndex {
	var x ruleIndex
	for b := range x {
		for _, i := range rules {
			if p.rules[i].firsts&(1<<b) != 0 {
				x[b] = append(x[b], i)
			}
		}
	}
	return &x
}

// services lists the services a rule's action patterns name, or says the
// rule may match any service.
func (r *rule) services() (svcs []string, wild bool) {
	if r.actions == nil {
		return nil, true
	}
	for _, a := range r.actions {
		if a.svc == "" {
			return nil, true
		}
		if !slices.Contains(svcs, a.svc) {
			svcs = append(svcs, a.svc)
		}
	}
	return svcs, false
}

// Name is the file name the policy was loaded from.
func (p *Policy) Name() string { return p.name }

// Len is the number of rules.
func (p *Policy) Len() int { return len(p.rules) }

// DefaultEffect is the effect when no rule matches.
func (p *Policy) DefaultEffect() Effect { return p.def }

// Shadow reports global shadow mode.
func (p *Policy) Shadow() bool { return p.shadow }
