package policy

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// ConditionCostLimit caps what one evaluation of a condition may spend, in
// cel-go's cost units (roughly one per operation, more for operations on
// long strings and lists). An evaluation that reaches it stops with an
// error, which counts like any other evaluation error: not met for allow
// rules, met for deny and approve rules. A condition that stays within it
// takes microseconds; the limit is there for comprehensions over lists the
// agent controls (call.params), which could otherwise run for seconds.
const ConditionCostLimit = 10_000

// condition is a CEL expression compiled once at load. cel.Program is safe
// for concurrent use.
type condition struct {
	src string
	prg cel.Program
}

// The variables a condition sees, and the keys each map has. Keys are
// checked at load: "call.parms" is an error, not a rule that never matches.
var celFields = map[string][]string{
	"identity": {"subject", "issuer", "groups", "source"},
	"call":     {"service", "region", "operation", "action", "resources", "params", "source_ip"},
}

// celEnv is built once: building it costs milliseconds, and a cel.Env is
// immutable and safe for concurrent use.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("identity", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("call", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("time", cel.TimestampType),
		// Decoded JSON numbers are doubles; let call.params.MaxKeys > 100
		// compare them with the integer literal rather than fail.
		cel.CrossTypeNumericComparisons(true),
		// time.getHours() is in UTC unless a zone is named:
		// time.getHours("Europe/Paris").
		cel.DefaultUTCTimeZone(true),
		ext.Strings(),
	)
})

// celIssue is a compile problem at a 1-based line and 0-based column of
// the expression.
type celIssue struct {
	line, col int
	msg       string
}

func compileCondition(src string) (*condition, []celIssue) {
	env, err := celEnv()
	if err != nil {
		return nil, []celIssue{{1, 0, "CEL environment: " + err.Error()}}
	}
	tree, iss := env.Compile(src)
	if iss.Err() != nil {
		var out []celIssue
		for _, e := range iss.Errors() {
			out = append(out, celIssue{e.Location.Line(), e.Location.Column(), e.Message})
		}
		return nil, out
	}
	if t := tree.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, []celIssue{{1, 0, "condition must be a boolean expression; it is " + t.String()}}
	}
	if bad := unknownFields(tree); len(bad) > 0 {
		return nil, bad
	}
	prg, err := env.Program(tree,
		cel.CostLimit(ConditionCostLimit),
		cel.EvalOptions(cel.OptOptimize), // constant regexps compiled once, here
	)
	if err != nil {
		return nil, []celIssue{{1, 0, err.Error()}}
	}
	return &condition{src: src, prg: prg}, nil
}

// unknownFields finds identity.x and call.x (has() included) where x is
// not a key those maps have: the maps are declared map(string, dyn), so
// the type checker lets any key through.
func unknownFields(tree *cel.Ast) []celIssue {
	var out []celIssue
	native := tree.NativeRep()
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.SelectKind {
			return
		}
		sel := e.AsSelect()
		if sel.Operand().Kind() != celast.IdentKind {
			return
		}
		known, ok := celFields[sel.Operand().AsIdent()]
		if !ok || contains(known, sel.FieldName()) {
			return
		}
		// CEL places a selection at its dot; point at the field's name.
		loc := native.SourceInfo().GetStartLocation(e.ID())
		out = append(out, celIssue{loc.Line(), loc.Column() + 1, fmt.Sprintf("%s has no field %q (it has %s)",
			sel.Operand().AsIdent(), sel.FieldName(), strings.Join(known, ", "))})
	}))
	return out
}

// eval runs the condition. Errors include an exceeded cost limit, a
// missing key (call.params.Key on a call without one), a type mismatch and
// a result that is not a boolean.
func (c *condition) eval(a *activation) (met bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			met, err = false, fmt.Errorf("condition panicked: %v", r)
		}
	}()
	v, _, err := c.prg.Eval(a)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("condition evaluated to %s, not a boolean", v.Type().TypeName())
	}
	return bool(b), nil
}

// activation hands the call to CEL, building its maps on first use: most
// calls reach no condition at all.
type activation struct {
	c        *Call
	now      time.Time
	identity map[string]any
	call     map[string]any
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "identity":
		if a.identity == nil {
			id := &a.c.Identity
			groups := id.Groups
			if groups == nil {
				groups = []string{}
			}
			a.identity = map[string]any{
				"subject": id.Subject,
				"issuer":  id.Issuer,
				"groups":  groups,
				"source":  id.Source,
			}
		}
		return a.identity, true
	case "call":
		if a.call == nil {
			c := a.c
			ip := ""
			if c.SourceIP.IsValid() {
				ip = c.SourceIP.String()
			}
			params := c.Params
			if params == nil {
				params = map[string]any{}
			}
			resources := c.Resources
			if resources == nil {
				resources = []string{}
			}
			a.call = map[string]any{
				"service":   c.Service,
				"region":    c.Region,
				"operation": c.Operation,
				"action":    c.Action,
				"resources": resources,
				"params":    params,
				"source_ip": ip,
			}
		}
		return a.call, true
	case "time":
		return a.now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
