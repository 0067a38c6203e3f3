package policy

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
)

// Explanation is how a policy decided a call: every rule, matched or not
// and why, then the decision. `gatehouse policy explain` prints it.
type Explanation struct {
	Policy   string // file name
	Default  Effect
	Shadow   bool // global shadow mode
	Call     Call
	Rules    []RuleResult // every rule, in file order
	Decision Decision
}

// RuleResult is one rule's part in an Explanation.
type RuleResult struct {
	ID      string
	Effect  Effect
	Line    int  // where the rule starts in the file
	Shadow  bool // in shadow mode: its own flag, or global shadow for deny and approve
	Matched bool
	Failed  string // the matcher that turned the call down: "actions", "identities.groups", "condition"...
	Why     string // what did not match, or how a condition error was counted

	// ConditionError is the condition's evaluation error. It counts as
	// "not met" for an allow rule and as "met" for deny and approve rules.
	ConditionError string
}

// Explain decides c like Decide, keeping the reasons.
func (p *Policy) Explain(c *Call) Explanation {
	if c == nil {
		return Explanation{Policy: p.name, Default: p.def, Shadow: p.shadow, Decision: p.Decide(nil)}
	}
	x := Explanation{Policy: p.name, Default: p.def, Shadow: p.shadow, Call: *c}
	var ev evalCtx
	ev.init(c)
	t := newTally()
	for i := range p.rules {
		r := &p.rules[i]
		res := RuleResult{ID: r.id, Effect: r.effect, Line: r.line, Shadow: p.shadowed(r)}
		miss, condErr := r.check(&ev)
		res.Matched = miss == fieldNone
		res.Failed = miss.String()
		if condErr != nil {
			res.ConditionError = condErr.Error()
		}
		res.Why = r.why(&ev, miss, condErr)
		if res.Matched {
			p.add(&t, i, res.Shadow)
		}
		x.Rules = append(x.Rules, res)
	}
	x.Decision = p.decision(t)
	return x
}

func (r *rule) why(ev *evalCtx, miss field, condErr error) string {
	c := ev.c
	switch miss {
	case fieldNone:
		if condErr != nil {
			return fmt.Sprintf("condition error counted as met (%s rules fail closed): %v", r.effect, condErr)
		}
		return ""
	case fieldActions:
		if ev.unknown {
			return fmt.Sprintf("unidentified action %q: only \"*\" and \"<service>:Unknown\" patterns match it", c.Action)
		}
		return fmt.Sprintf("%q matches none of %s", c.Action, actionList(r.actions))
	case fieldNotActions:
		if r.actions == nil && ev.unknown {
			return fmt.Sprintf("unidentified action %q: it could be one of not_actions %s", c.Action, actionList(r.notActions))
		}
		return fmt.Sprintf("%q matches not_actions %s", c.Action, actionList(r.notActions))
	case fieldRegions:
		return fmt.Sprintf("region %q matches none of %s", c.Region, globList(r.regions))
	case fieldSources:
		var names []string
		for _, n := range []string{"oidc", "key", "address"} {
			if r.sources&sourceBit(n) != 0 {
				names = append(names, n)
			}
		}
		return fmt.Sprintf("source %q is not one of [%s]", c.Identity.Source, strings.Join(names, " "))
	case fieldSubjects:
		return fmt.Sprintf("subject %q matches none of %s", c.Identity.Subject, globList(r.subjects))
	case fieldIssuers:
		return fmt.Sprintf("issuer %q matches none of %s", c.Identity.Issuer, globList(r.issuers))
	case fieldGroups:
		return fmt.Sprintf("groups %q match none of %s", c.Identity.Groups, globList(r.groups))
	case fieldResources:
		switch {
		case len(c.Resources) == 0:
			return fmt.Sprintf("the call names no resource, which only \"*\" matches, not %s", globList(r.resources))
		case r.effect == Allow:
			for _, s := range c.Resources {
				if !anyGlob(r.resources, s) {
					return fmt.Sprintf("resource %q matches none of %s (an allow rule must match every resource)", s, globList(r.resources))
				}
			}
		}
		return fmt.Sprintf("no resource of %q matches %s", c.Resources, globList(r.resources))
	case fieldCondition:
		if condErr != nil {
			return fmt.Sprintf("condition error counted as not met (allow rules fail closed): %v", condErr)
		}
		return "condition is false"
	}
	return ""
}

func globList(gs []glob) string {
	s := make([]string, len(gs))
	for i := range gs {
		s[i] = gs[i].src
	}
	return "[" + strings.Join(s, " ") + "]"
}

func actionList(as []actionGlob) string {
	s := make([]string, len(as))
	for i := range as {
		s[i] = as[i].src
	}
	return "[" + strings.Join(s, " ") + "]"
}

// String renders the explanation for people, one line per rule.
func (x *Explanation) String() string {
	var b strings.Builder
	shadow := ""
	if x.Shadow {
		shadow = ", global shadow mode"
	}
	fmt.Fprintf(&b, "policy %s: default %s%s\n", x.Policy, x.Default, shadow)
	c := &x.Call
	fmt.Fprintf(&b, "call: %s %s", c.Action, orDash(c.Region))
	if len(c.Resources) > 0 {
		fmt.Fprintf(&b, " %s", strings.Join(c.Resources, " "))
	}
	fmt.Fprintf(&b, "\n  by %s (%s", orDash(c.Identity.Subject), orDash(c.Identity.Source))
	if c.Identity.Issuer != "" {
		fmt.Fprintf(&b, ", issuer %s", c.Identity.Issuer)
	}
	if len(c.Identity.Groups) > 0 {
		fmt.Fprintf(&b, ", groups %s", strings.Join(slices.Clone(c.Identity.Groups), ","))
	}
	b.WriteString(")\n")
	var rules strings.Builder
	tw := tabwriter.NewWriter(&rules, 0, 4, 2, ' ', 0)
	for _, r := range x.Rules {
		id := r.ID
		if r.Shadow {
			id += " (shadow)"
		}
		verdict := "matched"
		if !r.Matched {
			verdict = "no: " + r.Failed
		}
		fmt.Fprintf(tw, "  %s\tline %d\t%s\t%s\t%s\n", id, r.Line, r.Effect, verdict, r.Why)
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(rules.String(), "\n") {
		if line != "" {
			b.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
	d := &x.Decision
	fmt.Fprintf(&b, "decision: %s, rule %s", d.Effect, d.AppliedRule)
	if d.Shadow {
		fmt.Fprintf(&b, "; shadow: %s would %s", ruleName(d.Rule), d.WouldBe)
	}
	if d.MaskProfile != "" {
		fmt.Fprintf(&b, ", mask %s", d.MaskProfile)
	}
	if d.Effect == Approve {
		fmt.Fprintf(&b, ", %d approval(s)", d.MinApprovals)
	}
	fmt.Fprintf(&b, "\nreason: %s\n", d.Reason)
	return b.String()
}

func ruleName(id string) string {
	if id == DefaultRule {
		return "the default"
	}
	return "rule " + id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
