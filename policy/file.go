package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/gatehouse/gatehouse/policy/mask"
)

// Error is one problem in a policy file, where it is, and Errors every one
// found, in file order (Parse and Load return it; errors.As finds each
// *Error). They are mask's, so the problems of the masks section and of
// the rules come back as one list.
type (
	Error  = mask.Error
	Errors = mask.Errors
)

const (
	maxFileSize = 4 << 20 // a 500-rule policy is about 100 KiB
	maxNesting  = 256     // of flow collections: goccy's parser is quadratic in it
	maxErrors   = 50      // then stop: the file is not worth reading further
	maxNodes    = 1 << 20 // YAML nodes visited, aliases expanded: no billion laughs
)

type pos struct{ line, col int }

// str is a scalar string from the file, with where it was.
type str struct {
	s    string
	pos  pos
	node ast.Node // nil when the key is absent
	bad  bool     // present but not a string: reported already
}

// fileSpec and ruleSpec are the file as written, checked for shape (keys,
// types) but not yet for meaning (globs, CEL, references).
type fileSpec struct {
	hasVersion bool
	def        str
	shadow     bool
	rules      []ruleSpec
	masks      ast.Node // the masks section, read by package mask; nil when absent
	masksPos   pos
}

type ruleSpec struct {
	pos                                  pos
	id, effect, mask, condition          str
	subjects, groups, issuers, sources   []str
	actions, notActions                  []str
	resources, regions                   []str
	shadow                               bool
	minApprovals                         int64
	minApprovalsPos                      pos
	hasMinApprovals, hasActions, hasNots bool
}

// decoder walks goccy's AST itself rather than unmarshalling into structs:
// that way every key, value and list entry keeps its line and column for
// the errors, unknown keys and wrong types are refused with the same
// position, and nothing is silently coerced ("yes", 1 for "1").
type decoder struct {
	file    string
	errs    Errors
	anchors map[string]ast.Node
	nodes   int
	full    bool // maxErrors reached
}

var errTooManyNodes = errors.New("too many YAML nodes (alias expansion?)")

// decodeFile returns nil and the errors when the file is not a policy at
// all, or the spec of what it could read and the errors in the rest.
func decodeFile(file string, data []byte) (*fileSpec, Errors) {
	d := &decoder{file: file, anchors: map[string]ast.Node{}}
	if len(data) > maxFileSize {
		d.errs = append(d.errs, &Error{File: file, Msg: fmt.Sprintf("file is larger than %d bytes", maxFileSize)})
		return nil, d.errs
	}
	if line, col, ok := tooDeep(data); !ok {
		d.errorAt(pos{line, col}, "YAML nested more than %d levels deep", maxNesting)
		return nil, d.errs
	}
	f, err := parse(data)
	if err != nil {
		d.syntaxError(err)
		return nil, d.errs
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			d.errorf(doc.Body, "more than one YAML document; a policy file holds one")
			return nil, d.errs
		}
		body = doc.Body
	}
	if body == nil {
		d.errs = append(d.errs, &Error{File: file, Msg: "empty policy file (want at least \"version: 1\")"})
		return nil, d.errs
	}
	spec := d.top(body)
	return spec, d.errs
}

// parse runs goccy's parser, which must not take the gateway down with
// it: a panic on some odd input is a load error like any other.
func parse(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// tooDeep finds where flow collections ([ and {) nest deeper than
// maxNesting. It counts brackets inside strings and comments as well,
// which only makes it stricter than it needs to be for files no one
// writes: a real policy nests three or four levels.
func tooDeep(data []byte) (line, col int, ok bool) {
	depth, line, col := 0, 1, 0
	for _, c := range data {
		col++
		switch c {
		case '\n':
			line, col = line+1, 0
		case '[', '{':
			depth++
			if depth > maxNesting {
				return line, col, false
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return 0, 0, true
}

// syntaxError turns goccy's parse error, which carries the token but
// formats itself with a source excerpt, into our file:line:col form.
func (d *decoder) syntaxError(err error) {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Col: max(p.Column, 1), Msg: "YAML: " + ye.GetMessage()})
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Msg: "YAML: " + err.Error()})
}

func (d *decoder) errorAt(p pos, format string, args ...any) {
	if d.full {
		return
	}
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, &Error{File: d.file, Line: p.line, Col: p.col, Msg: "too many errors"})
		d.full = true
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) errorf(n ast.Node, format string, args ...any) {
	d.errorAt(posOf(n), format, args...)
}

// posOf is where a node starts as a reader sees it: a mapping at its
// first key, a key/value pair at its key.
func posOf(n ast.Node) pos {
	switch v := n.(type) {
	case nil:
		return pos{}
	case *ast.DocumentNode:
		if v.Body == nil {
			return pos{}
		}
		return posOf(v.Body)
	case *ast.MappingNode:
		if len(v.Values) > 0 && !v.IsFlowStyle {
			return posOf(v.Values[0])
		}
	case *ast.MappingValueNode:
		return posOf(v.Key)
	case *ast.LiteralNode:
		if v.Start != nil {
			return tokenPos(v.Start)
		}
	}
	if tk := n.GetToken(); tk != nil {
		return tokenPos(tk)
	}
	return pos{}
}

func tokenPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, max(tk.Position.Column, 1)}
}

// resolve follows anchors and aliases to the node they stand for and
// refuses tags. It returns nil after reporting a problem.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for {
		d.nodes++
		if d.nodes > maxNodes {
			if d.nodes == maxNodes+1 {
				d.errorf(n, "%v", errTooManyNodes)
			}
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			if v.Name != nil && v.Name.GetToken() != nil {
				d.anchors[v.Name.GetToken().Value] = v.Value
			}
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil && v.Value.GetToken() != nil {
				name = v.Value.GetToken().Value
			}
			target, ok := d.anchors[name]
			if !ok {
				d.errorf(v, "alias *%s names no anchor defined before it", name)
				return nil
			}
			n = target
		case *ast.TagNode:
			d.errorf(v, "YAML tags (%s) are not supported", v.Start.Value)
			return nil
		case *ast.CommentGroupNode:
			return nil
		default:
			return n
		}
	}
}

// mapping calls field for each key of a mapping, refusing keys not in
// known and keys given twice.
func (d *decoder) mapping(n ast.Node, what string, known []string, field func(key str, v ast.Node)) bool {
	n = d.resolve(n)
	if n == nil {
		return false
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		if mv, isPair := n.(*ast.MappingValueNode); isPair {
			m = &ast.MappingNode{Values: []*ast.MappingValueNode{mv}}
		} else {
			d.errorf(n, "%s: want a mapping, got %s", what, kind(n))
			return false
		}
	}
	seen := make(map[string]pos, len(m.Values))
	for _, kv := range m.Values {
		if kv == nil {
			continue
		}
		k, ok := kv.Key.(*ast.StringNode)
		if !ok || k.Token == nil || k.Token.Type != token.StringType && k.Token.Type != token.SingleQuoteType && k.Token.Type != token.DoubleQuoteType {
			d.errorf(kv.Key, "%s: keys are plain names; got %s", what, kind(kv.Key))
			continue
		}
		key := str{s: k.Value, pos: posOf(k), node: k}
		if first, dup := seen[key.s]; dup {
			d.errorAt(key.pos, "%s: key %q given twice (first at line %d)", what, key.s, first.line)
			continue
		}
		seen[key.s] = key.pos
		if !contains(known, key.s) {
			d.errorAt(key.pos, "%s: unknown key %q (known: %s)", what, key.s, strings.Join(known, ", "))
			continue
		}
		field(key, kv.Value)
	}
	return true
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// kind names a node's YAML type for "want X, got Y" errors.
func kind(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "nothing (null)"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	default:
		return strings.ToLower(v.Type().String())
	}
}

func (d *decoder) str(key str, n ast.Node) (str, bool) {
	n = d.resolve(n)
	switch v := n.(type) {
	case nil:
		return str{}, false
	case *ast.StringNode:
		return str{s: v.Value, pos: posOf(v), node: v}, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return str{s: v.Value.Value, pos: posOf(v), node: v}, true
		}
	}
	hint := ""
	if _, scalar := n.(ast.ScalarNode); scalar {
		hint = " (quote it to make it one)"
	}
	d.errorf(n, "%s: want a string, got %s%s", key.s, kind(n), hint)
	return str{}, false
}

// strField reads a string-valued key; a value of another type is
// reported here and marked bad, so later checks stay quiet about it.
func (d *decoder) strField(key str, n ast.Node) str {
	s, ok := d.str(key, n)
	if !ok {
		return str{pos: key.pos, node: key.node, bad: true}
	}
	return s
}

func (d *decoder) boolean(key str, n ast.Node) bool {
	n = d.resolve(n)
	if b, ok := n.(*ast.BoolNode); ok {
		return b.Value
	}
	if n != nil {
		d.errorf(n, "%s: want true or false, got %s", key.s, kind(n))
	}
	return false
}

func (d *decoder) integer(key str, n ast.Node) (int64, pos, bool) {
	n = d.resolve(n)
	if i, ok := n.(*ast.IntegerNode); ok {
		switch v := i.Value.(type) {
		case int64:
			return v, posOf(i), true
		case uint64:
			if v <= math.MaxInt64 {
				return int64(v), posOf(i), true
			}
		}
		d.errorf(n, "%s: integer out of range", key.s)
		return 0, pos{}, false
	}
	if n != nil {
		d.errorf(n, "%s: want an integer, got %s", key.s, kind(n))
	}
	return 0, pos{}, false
}

// strings reads a non-empty list of strings. A lone string is refused
// rather than taken as a list of one: "actions: s3:*" is then written the
// same way everywhere.
func (d *decoder) strings(key str, n ast.Node) ([]str, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.errorf(n, "%s: want a list, got %s (write [%s])", key.s, kind(n), "...")
		return nil, false
	}
	if len(seq.Values) == 0 {
		d.errorf(n, "%s: empty list matches nothing; leave the key out to match anything", key.s)
		return nil, false
	}
	out := make([]str, 0, len(seq.Values))
	good := true
	for _, e := range seq.Values {
		s, ok := d.str(key, e)
		if !ok {
			good = false
			continue
		}
		out = append(out, s)
	}
	return out, good
}

var (
	topKeys      = []string{"version", "default", "shadow", "rules", "masks"}
	ruleKeys     = []string{"id", "effect", "identities", "actions", "not_actions", "resources", "regions", "condition", "shadow", "mask", "min_approvals"}
	identityKeys = []string{"subjects", "groups", "issuers", "sources"}
)

func (d *decoder) top(body ast.Node) *fileSpec {
	spec := &fileSpec{}
	ok := d.mapping(body, "policy", topKeys, func(k str, v ast.Node) {
		switch k.s {
		case "version":
			spec.hasVersion = true // if it is not an integer, that is reported
			if v, p, ok := d.integer(k, v); ok && v != 1 {
				d.errorAt(p, "version: %d is not supported (want 1)", v)
			}
		case "default":
			spec.def = d.strField(k, v)
		case "shadow":
			spec.shadow = d.boolean(k, v)
		case "rules":
			d.rules(k, v, spec)
		case "masks":
			spec.masks, spec.masksPos = v, k.pos
		}
	})
	if ok && !spec.hasVersion {
		d.errorAt(posOf(body), "policy: version is required (version: 1)")
	}
	return spec
}

func (d *decoder) rules(key str, n ast.Node, spec *fileSpec) {
	n = d.resolve(n)
	if n == nil {
		return
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.errorf(n, "rules: want a list of rules, got %s", kind(n))
		return
	}
	for i, e := range seq.Values {
		r := ruleSpec{pos: posOf(e)}
		what := "rules[" + strconv.Itoa(i) + "]"
		if !d.mapping(e, what, ruleKeys, func(k str, v ast.Node) { d.ruleField(&r, k, v) }) {
			continue
		}
		if r.id.s == "" && r.id.node == nil {
			d.errorAt(r.pos, "%s: id is required", what)
		}
		spec.rules = append(spec.rules, r)
	}
}

func (d *decoder) ruleField(r *ruleSpec, k str, v ast.Node) {
	switch k.s {
	case "id":
		r.id = d.strField(k, v)
	case "effect":
		r.effect = d.strField(k, v)
	case "identities":
		keys := 0
		ok := d.mapping(v, "identities", identityKeys, func(k str, v ast.Node) {
			keys++
			list, _ := d.strings(k, v)
			switch k.s {
			case "subjects":
				r.subjects = list
			case "groups":
				r.groups = list
			case "issuers":
				r.issuers = list
			case "sources":
				r.sources = list
			}
		})
		if ok && keys == 0 {
			d.errorf(v, "identities: empty; leave it out to match anyone")
		}
	case "actions":
		r.hasActions = true
		r.actions, _ = d.strings(k, v)
	case "not_actions":
		r.hasNots = true
		r.notActions, _ = d.strings(k, v)
	case "resources":
		r.resources, _ = d.strings(k, v)
	case "regions":
		r.regions, _ = d.strings(k, v)
	case "condition":
		r.condition = d.strField(k, v)
	case "shadow":
		r.shadow = d.boolean(k, v)
	case "mask":
		r.mask = d.strField(k, v)
	case "min_approvals":
		// Not an integer: reported here, and left out of later checks.
		r.minApprovals, r.minApprovalsPos, r.hasMinApprovals = d.integer(k, v)
	}
}
