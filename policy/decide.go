package policy

import (
	"math/bits"
	"time"
)

// evalCtx is one call as the matchers see it, worked out once per
// decision. It lives on Decide's stack; the CEL activation inside is only
// filled in when a rule gets as far as its condition.
type evalCtx struct {
	c       *Call
	svc     string // lower-case service prefix of the action
	unknown bool   // "<service>:Unknown", or an action without a service prefix
	source  uint8
	first   uint32      // firstBit of the action's name
	act     *activation // allocated when a rule first reaches its condition
}

func (ev *evalCtx) init(c *Call) {
	ev.c = c
	svc, name, ok := cutColon(c.Action)
	if !ok {
		svc, name = c.Service, ""
	}
	ev.svc = lowerASCII(svc)
	ev.unknown = !ok || name == "" || equalFoldASCII(name, "Unknown")
	ev.first = firstBit('u')
	if !ev.unknown {
		ev.first = firstBit(name[0])
	}
	ev.source = sourceBit(c.Identity.Source)
}

func (ev *evalCtx) activation() *activation {
	if ev.act == nil {
		ev.act = &activation{c: ev.c, now: ev.c.Time}
		if ev.act.now.IsZero() {
			ev.act.now = time.Now()
		}
	}
	return ev.act
}

func cutColon(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerByte(a[i]) != lowerByte(b[i]) {
			return false
		}
	}
	return true
}

// field names the matcher that turned a rule down.
type field uint8

const (
	fieldNone field = iota
	fieldActions
	fieldNotActions
	fieldRegions
	fieldSources
	fieldSubjects
	fieldIssuers
	fieldGroups
	fieldResources
	fieldCondition
)

var fieldNames = [...]string{
	fieldNone:       "",
	fieldActions:    "actions",
	fieldNotActions: "not_actions",
	fieldRegions:    "regions",
	fieldSources:    "identities.sources",
	fieldSubjects:   "identities.subjects",
	fieldIssuers:    "identities.issuers",
	fieldGroups:     "identities.groups",
	fieldResources:  "resources",
	fieldCondition:  "condition",
}

func (f field) String() string { return fieldNames[f] }

// check reports the first matcher that turns the call down (fieldNone:
// the rule matches), cheapest first, the condition last. condErr is the
// condition's evaluation error, already counted fail-closed: as not met
// for an allow rule, as met for deny and approve rules.
func (r *rule) check(ev *evalCtx) (miss field, condErr error) {
	c := ev.c
	if r.firsts&ev.first == 0 || r.actions != nil && !r.matchAction(r.actions, ev) {
		return fieldActions, nil
	}
	if r.notActions != nil {
		// An unidentified call could be any action, the excluded ones
		// included, so a not_actions rule never claims it unless its
		// actions name it.
		if r.actions == nil && ev.unknown || r.matchAction(r.notActions, ev) {
			return fieldNotActions, nil
		}
	}
	if r.regions != nil && !anyGlob(r.regions, c.Region) {
		return fieldRegions, nil
	}
	if r.sources != 0 && r.sources&ev.source == 0 {
		return fieldSources, nil
	}
	if r.subjects != nil && !anyGlob(r.subjects, c.Identity.Subject) {
		return fieldSubjects, nil
	}
	if r.issuers != nil && !anyGlob(r.issuers, c.Identity.Issuer) {
		return fieldIssuers, nil
	}
	if r.groups != nil && !r.matchGroups(c.Identity.Groups) {
		return fieldGroups, nil
	}
	if r.resources != nil && !r.matchResources(c.Resources) {
		return fieldResources, nil
	}
	if r.cond != nil {
		met, err := r.cond.eval(ev.activation())
		if err != nil {
			if r.effect == Allow {
				return fieldCondition, err
			}
			return fieldNone, err
		}
		if !met {
			return fieldCondition, nil
		}
	}
	return fieldNone, nil
}

func (r *rule) matchAction(pats []actionGlob, ev *evalCtx) bool {
	for i := range pats {
		a := &pats[i]
		switch {
		case a.any:
			return true
		case ev.unknown:
			if a.namesUnknown && a.svcGlob.match(ev.svc) {
				return true
			}
		case a.match(ev.c.Action):
			return true
		}
	}
	return false
}

func anyGlob(gs []glob, s string) bool {
	for i := range gs {
		if gs[i].match(s) {
			return true
		}
	}
	return false
}

func (r *rule) matchGroups(groups []string) bool {
	for _, g := range groups {
		if anyGlob(r.groups, g) {
			return true
		}
	}
	return false
}

// matchResources: a deny or approve rule claims a call when any of its
// resources matches; an allow rule only when every one does, or an agent
// could carry a forbidden resource through with an allowed one
// (CopyObject from a secret bucket into a public one). A call that names
// no resource is, as in IAM, a call on "*": only a "*" pattern takes it.
func (r *rule) matchResources(res []string) bool {
	if len(res) == 0 {
		for i := range r.resources {
			if r.resources[i].kind == globAny {
				return true
			}
		}
		return false
	}
	every := r.effect == Allow
	for _, s := range res {
		if anyGlob(r.resources, s) != every {
			return !every
		}
	}
	return every
}

func (p *Policy) shadowed(r *rule) bool {
	return r.shadow || p.shadow && r.effect != Allow
}

// candidates are the rules that can match a call on service svc whose
// action name starts with first (a firstBit).
func (p *Policy) candidates(svc string, first uint32) []int32 {
	x, ok := p.bySvc[svc]
	if !ok {
		x = p.anySvc
	}
	return x[bits.TrailingZeros32(first)]
}

// tally keeps the two results precedence needs while rules are matched in
// file order: the strongest enforced rule (what happens) and the strongest
// rule of all, shadowed ones included (what would happen without shadow
// mode). The first rule of an effect stays: later ones of the same effect
// change nothing.
type tally struct {
	enf, would int // rule indexes; -1 for none
}

func newTally() tally { return tally{-1, -1} }

func (p *Policy) rank(i int) int {
	if i < 0 {
		return 0
	}
	return p.rules[i].rank
}

// useful reports whether rule i, if it matched, would change the tally:
// Decide skips the matchers (and the condition) of rules that cannot.
func (p *Policy) useful(t *tally, i int, shadowed bool) bool {
	rk := p.rules[i].rank
	if shadowed {
		return rk > p.rank(t.would)
	}
	return rk > p.rank(t.enf)
}

func (p *Policy) add(t *tally, i int, shadowed bool) {
	rk := p.rules[i].rank
	if !shadowed && rk > p.rank(t.enf) {
		t.enf = i
	}
	if rk > p.rank(t.would) {
		t.would = i
	}
}

// Decide decides a call. Every rule that matches is considered: an
// explicit deny beats approve, which beats allow; the deciding rule is the
// first in the file of the strongest effect; with no match, the default.
// Rules in shadow mode (and, in global shadow mode, every deny and approve)
// do not take part: when one would have decided otherwise, the decision
// says so (Shadow, WouldBe, Rule) and Effect is what the others decided.
func (p *Policy) Decide(c *Call) Decision {
	if c == nil {
		return Decision{Effect: Deny, Rule: DefaultRule, AppliedRule: DefaultRule, Reason: "denied: no call described"}
	}
	var ev evalCtx
	ev.init(c)
	t := newTally()
	for _, i32 := range p.candidates(ev.svc, ev.first) {
		i := int(i32)
		r := &p.rules[i]
		sh := p.shadowed(r)
		if !p.useful(&t, i, sh) {
			continue
		}
		if miss, _ := r.check(&ev); miss != fieldNone {
			continue
		}
		p.add(&t, i, sh)
		if t.enf >= 0 && p.rules[t.enf].effect == Deny {
			break // nothing can beat an enforced deny
		}
	}
	return p.decision(t)
}

func (p *Policy) decision(t tally) Decision {
	var d Decision
	if t.enf >= 0 {
		r := &p.rules[t.enf]
		d.Effect, d.Rule, d.MaskProfile, d.MinApprovals = r.effect, r.id, r.mask, r.minApprovals
	} else {
		d.Effect, d.Rule = p.def, DefaultRule
		if p.shadow && p.def != Allow {
			d.Effect = Allow
		}
		if d.Effect == Approve {
			d.MinApprovals = 1
		}
	}
	d.AppliedRule = d.Rule
	d.Mask, _ = p.masks.Profile(d.MaskProfile) // checked at compile: it exists
	if t.enf >= 0 {
		d.Reason = p.rules[t.enf].reason
	} else {
		d.Reason = defaultReasons[d.Effect]
	}
	would, wouldRule := p.def, DefaultRule
	if t.would >= 0 {
		would, wouldRule = p.rules[t.would].effect, p.rules[t.would].id
	}
	if would != d.Effect {
		// Reason stays the applied rule's: the agent learns nothing of
		// rules being tried out, and the decision allocates nothing.
		d.Shadow, d.WouldBe, d.Rule = true, would, wouldRule
	}
	return d
}

var defaultReasons = map[Effect]string{
	Allow:   reason(Decision{Effect: Allow, AppliedRule: DefaultRule}),
	Deny:    reason(Decision{Effect: Deny, AppliedRule: DefaultRule}),
	Approve: reason(Decision{Effect: Approve, AppliedRule: DefaultRule}),
}

// reason is Decision.Reason for an effect applied by a rule or the
// default; compiled rules keep theirs.
func reason(d Decision) string {
	by := "by default"
	if d.AppliedRule != DefaultRule {
		by = "by rule " + d.AppliedRule
	}
	switch d.Effect {
	case Deny:
		return "denied " + by
	case Approve:
		return "held for approval " + by
	}
	return "allowed " + by
}
