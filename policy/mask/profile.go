package mask

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Profile is a named set of masks: field rules that apply to some
// operations' responses, detectors that scan every string value of every
// response, and the replacers that say what the agent sees instead.
type Profile struct {
	Name      string
	Fields    []FieldRule
	Detectors []Detector
	// Replacers picks a replacer by detector or field rule name; nil
	// replaces everything with DefaultText.
	Replacers *Replacers

	builtin bool // Default's, not one a policy file defines
}

// Builtin reports whether p is the built-in profile (Default) itself, not
// one a policy file defines, with or without the built-in rules.
func (p *Profile) Builtin() bool { return p != nil && p.builtin }

// FieldRule masks values by where they are in a document, whatever they
// look like.
type FieldRule struct {
	// Name is what the report counts masked values under and what
	// Replacers choose by.
	Name string
	// Actions are the IAM actions whose responses the rule applies to:
	// "secretsmanager:GetSecretValue", globs with '*' ("dynamodb:*",
	// "*"), compared case-insensitively as IAM does.
	Actions []string
	Paths   []Path
	// When limits the rule to values whose enclosing object has these
	// members with these string values (SSM: Type is SecureString). JSON
	// only: in XML the rule applies regardless, which masks more.
	When map[string]string
	// Base64 says the field is a blob (SecretBinary): the replacement is
	// base64-encoded so that SDKs still decode it.
	Base64 bool
	// Replacer overrides the profile's choice for this rule.
	Replacer Replacer
}

// Applies reports whether the rule applies to responses of action.
func (r *FieldRule) Applies(action string) bool {
	action = strings.ToLower(action)
	for _, a := range r.Actions {
		if globMatch(strings.ToLower(a), action) {
			return true
		}
	}
	return false
}

// globMatch matches s against a pattern where '*' is any run of
// characters.
func globMatch(pattern, s string) bool {
	star, next := -1, 0
	p, i := 0, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, next = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			next++
			i = next
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Path is a field path in a JSON or XML document, as ParsePath reads it.
type Path struct {
	src   string
	steps []step
}

type stepKind uint8

const (
	stepKey      stepKind = iota // a member or element name
	stepAnyKey                   // *: every member, every child element
	stepElem                     // [*]: every element of an array
	stepAnyDepth                 // **: zero or more levels of members, elements or child elements
)

type step struct {
	kind stepKind
	key  string
}

func (p Path) String() string { return p.src }

// ParsePath reads a dotted field path: names of members (JSON) or child
// elements (XML) separated by '.', '*' for every member, '[*]' after a
// name for every element of an array: SecretString, Item.ssn,
// Items[*].card, Environment.Variables.*, Credentials.SecretAccessKey,
// GetParameterResult.Parameter.Value. "**" stands for any number of
// levels, none included, once per path: **.SecretAccessKey. A path starts
// at the document's top object (JSON) or below its root element (XML;
// naming the root too is allowed). Names cannot contain '.', '[', ']' or
// '*'.
func ParsePath(s string) (Path, error) {
	p := Path{src: s}
	if s == "" {
		return p, fmt.Errorf("empty path: name a field, like SecretString or Items[*].card")
	}
	for part := range strings.SplitSeq(s, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if rest != "" {
			rest = "[" + rest
		}
		switch {
		case name == "*":
			p.steps = append(p.steps, step{kind: stepAnyKey})
		case name == "**":
			if slices.ContainsFunc(p.steps, func(s step) bool { return s.kind == stepAnyDepth }) {
				return p, fmt.Errorf("path %q: ** may appear once", s)
			}
			p.steps = append(p.steps, step{kind: stepAnyDepth})
		case name == "" && (rest == "" || len(p.steps) > 0):
			return p, fmt.Errorf("path %q: empty name (two dots, or a leading or trailing dot?)", s)
		case strings.ContainsAny(name, "]*"):
			return p, fmt.Errorf("path %q: %q is not a name: '*' and '**' stand alone, ']' only in [*]", s, name)
		case name != "":
			p.steps = append(p.steps, step{kind: stepKey, key: name})
		}
		for rest != "" {
			if !strings.HasPrefix(rest, "[*]") {
				return p, fmt.Errorf("path %q: only [*] may follow a name (every element of an array)", s)
			}
			p.steps = append(p.steps, step{kind: stepElem})
			rest = rest[3:]
		}
	}
	return p, nil
}

// MustPath is ParsePath for paths written in Go: it panics on an error.
func MustPath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// For returns what the profile does to the responses of one operation
// (an IAM action). A nil profile masks nothing.
func (p *Profile) For(action string) *Masker {
	m := &Masker{}
	if p == nil {
		return m
	}
	m.Detectors = p.Detectors
	m.Replacer = p.Replacers
	for _, r := range p.Fields {
		if r.Applies(action) {
			m.Fields = append(m.Fields, r)
		}
	}
	return m
}

// Masker masks the bodies of one operation: JSON, XML or Text, as the
// body is. Build it with Profile.For or by hand; it is safe for
// concurrent use once built.
type Masker struct {
	Fields    []FieldRule
	Detectors []Detector
	Replacer  Replacer // nil: DefaultText for everything
}

// Empty reports whether the masker changes nothing, so that a caller
// need not buffer the body.
func (m *Masker) Empty() bool { return len(m.Fields) == 0 && len(m.Detectors) == 0 }

// HasFields reports whether field rules apply: then a body that cannot
// be parsed must be refused, whereas detectors alone could fall back to
// Text.
func (m *Masker) HasFields() bool { return len(m.Fields) > 0 }

func (m *Masker) replacer() Replacer {
	if m.Replacer == nil {
		return Fixed("")
	}
	return m.Replacer
}

// Set is the profiles a policy names, the built-in ones included:
//
//   - "default", the built-in profile (Default), which applies to calls
//     whose rule names no profile; a file may redefine it (its rules are
//     added to the built-in ones unless it says defaults: false);
//   - "none", which masks nothing: a rule must name it to turn the
//     built-in masks off.
type Set struct {
	byName map[string]*Profile
}

// Reserved profile names.
const (
	DefaultName = "default"
	NoneName    = "none"
)

// NewSet returns the set holding the built-in profiles and ps; a
// profile named "default" replaces the built-in one. It refuses "none"
// and duplicates.
func NewSet(ps ...*Profile) (*Set, error) {
	s := &Set{byName: map[string]*Profile{DefaultName: Default(), NoneName: {Name: NoneName}}}
	seen := map[string]bool{}
	for _, p := range ps {
		switch {
		case p.Name == NoneName:
			return nil, fmt.Errorf("mask profile %q is built in (it masks nothing): choose another name", NoneName)
		case seen[p.Name]:
			return nil, fmt.Errorf("mask profile %q defined twice: rename one", p.Name)
		}
		seen[p.Name] = true
		s.byName[p.Name] = p
	}
	return s, nil
}

// Profile returns the named profile; "" is "default".
func (s *Set) Profile(name string) (*Profile, bool) {
	if name == "" {
		name = DefaultName
	}
	p, ok := s.byName[name]
	return p, ok
}

// Names lists the profiles, built-in ones included, sorted.
func (s *Set) Names() []string {
	var out []string
	for n := range s.byName {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// withDefaults returns p with the built-in profile's field rules and
// detectors added in front of its own, and its replacers behind its own.
func withDefaults(p *Profile) *Profile {
	d := Default()
	out := &Profile{Name: p.Name}
	out.Fields = append(append(out.Fields, d.Fields...), p.Fields...)
	names := map[string]bool{}
	for _, det := range append(slices.Clone(p.Detectors), d.Detectors...) {
		if !names[det.Name()] {
			names[det.Name()] = true
			out.Detectors = append(out.Detectors, det)
		}
	}
	rs := &Replacers{By: map[string]Replacer{}}
	if d.Replacers != nil {
		rs.Default = d.Replacers.Default
		for k, v := range d.Replacers.By {
			rs.By[k] = v
		}
	}
	if p.Replacers != nil {
		if p.Replacers.Default != nil {
			rs.Default = p.Replacers.Default
		}
		for k, v := range p.Replacers.By {
			rs.By[k] = v
		}
	}
	out.Replacers = rs
	return out
}

// Error is one problem in a YAML file (a masks section, or the policy file
// around it: package policy uses this type), where it is.
type Error struct {
	File string
	Line int // 1-based; 0 when the problem concerns the whole section
	Col  int // 1-based
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found, in file order; errors.As finds each
// *Error.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Options are what profiles need from outside the policy file.
type Options struct {
	// HashKey keys the hash replacer (at least 16 bytes). It is not in the
	// policy file, which agents' owners may read; without it, a profile
	// that asks for hash is an error.
	HashKey []byte
}

const (
	maxMaskFile   = 4 << 20
	maxMaskErrors = 50
	maxMaskNodes  = 1 << 20
)

// Parse reads a YAML document holding one key, masks, whose value is
// the profiles by name (the section a policy file has), and returns the
// Set of them and the built-in ones. Loading is strict, as for the rest
// of the policy file: unknown keys, wrong types, bad names, patterns and
// paths are errors naming file:line:col, all of them (Errors).
//
//	masks:
//	  pii:                         # profile name: letters, digits, . _ -
//	    defaults: true             # the built-in masks too (the default)
//	    detectors: [email, card, ssn, aws-access-key-id, aws-secret-access-key, private-key, jwt]
//	    patterns:                  # custom detectors (Go regexp syntax)
//	      - {name: employee-id, regex: 'EMP-[0-9]{6}', max_len: 10}
//	    deny:                      # exact strings, 4 bytes or more
//	      - {name: canaries, values: ["hunter2-canary"]}
//	    replace:                   # by detector or field rule name; default: the rest
//	      default: fixed           # fixed | hash | {fixed: TEXT} | {keep_last: N, text: TEXT} | {hash: BYTES}
//	      card: {keep_last: 4}
//	      email: hash
//	    fields:
//	      - name: customer-pii     # optional; reports count under it (default "field")
//	        actions: ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
//	        paths: ["Item.ssn", "Items[*].card", "Item.address.*"]
//	        when: {Type: SecureString}   # optional: sibling members that must match
//	        base64: false          # the field is a blob: base64-encode the replacement
//	        replace: hash          # optional: overrides the profile's choice
func Parse(file string, data []byte, opts Options) (*Set, error) {
	d := &yamlDecoder{file: file, anchors: map[string]ast.Node{}, opts: opts}
	if len(data) > maxMaskFile {
		return nil, Errors{{File: file, Msg: fmt.Sprintf("file is larger than %d bytes", maxMaskFile)}}
	}
	f, err := parseYAML(data)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
			p := ye.GetToken().Position
			return nil, Errors{{File: file, Line: p.Line, Col: max(p.Column, 1), Msg: "YAML: " + ye.GetMessage()}}
		}
		return nil, Errors{{File: file, Msg: "YAML: " + err.Error()}}
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			d.errorf(doc.Body, "more than one YAML document; want one")
			return nil, d.errs
		}
		body = doc.Body
	}
	if body == nil {
		return nil, Errors{{File: file, Msg: "empty file (want masks: followed by profiles)"}}
	}
	var ps []*Profile
	d.mapping(body, "file", []string{"masks"}, func(k yStr, v ast.Node) {
		ps = d.profiles(v)
	})
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	s, err := NewSet(ps...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

// ParseNode reads the value of a policy file's masks key, already parsed
// by the policy loader, so that errors keep their lines; the caller makes
// the Set with NewSet(profiles...). Anchors must be defined inside the
// section.
func ParseNode(file string, n ast.Node, opts Options) ([]*Profile, Errors) {
	d := &yamlDecoder{file: file, anchors: map[string]ast.Node{}, opts: opts}
	ps := d.profiles(n)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return ps, nil
}

func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	if line, ok := flowTooDeep(data); !ok {
		return nil, fmt.Errorf("line %d: YAML nested more than %d levels deep", line, 64)
	}
	return parser.ParseBytes(data, 0)
}

// flowTooDeep guards goccy's parser, quadratic in flow nesting.
func flowTooDeep(data []byte) (int, bool) {
	depth, line := 0, 1
	for _, c := range data {
		switch c {
		case '\n':
			line++
		case '[', '{':
			if depth++; depth > 64 {
				return line, false
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return 0, true
}

type yamlDecoder struct {
	file    string
	errs    Errors
	anchors map[string]ast.Node
	nodes   int
	opts    Options
}

type yStr struct {
	s    string
	line int
	col  int
}

func (d *yamlDecoder) errorAt(line, col int, format string, args ...any) {
	if len(d.errs) > maxMaskErrors {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if len(d.errs) == maxMaskErrors {
		msg = "too many errors"
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Col: col, Msg: msg})
}

func (d *yamlDecoder) errorf(n ast.Node, format string, args ...any) {
	l, c := nodePos(n)
	d.errorAt(l, c, format, args...)
}

func nodePos(n ast.Node) (int, int) {
	switch v := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if len(v.Values) > 0 && !v.IsFlowStyle {
			return nodePos(v.Values[0])
		}
	case *ast.MappingValueNode:
		return nodePos(v.Key)
	case *ast.LiteralNode:
		if v.Start != nil && v.Start.Position != nil {
			return v.Start.Position.Line, max(v.Start.Position.Column, 1)
		}
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line, max(tk.Position.Column, 1)
	}
	return 0, 0
}

func (d *yamlDecoder) resolve(n ast.Node) ast.Node {
	for {
		d.nodes++
		if d.nodes > maxMaskNodes {
			if d.nodes == maxMaskNodes+1 {
				d.errorf(n, "too many YAML nodes (alias expansion?)")
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
				d.errorf(v, "alias *%s names no anchor defined before it in masks", name)
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

func yamlKind(n ast.Node) string {
	switch n.(type) {
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
	}
	return strings.ToLower(n.Type().String())
}

// mapping calls field for each key of a mapping, in order, refusing keys
// not in known (any key when known is nil) and keys given twice.
func (d *yamlDecoder) mapping(n ast.Node, what string, known []string, field func(k yStr, v ast.Node)) bool {
	n = d.resolve(n)
	if n == nil {
		d.errorf(n, "%s: want a mapping, got nothing", what)
		return false
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		mv, isPair := n.(*ast.MappingValueNode)
		if !isPair {
			d.errorf(n, "%s: want a mapping, got %s", what, yamlKind(n))
			return false
		}
		m = &ast.MappingNode{Values: []*ast.MappingValueNode{mv}}
	}
	seen := map[string]int{}
	for _, kv := range m.Values {
		if kv == nil {
			continue
		}
		k, ok := kv.Key.(*ast.StringNode)
		if !ok || k.Token == nil || k.Token.Type != token.StringType && k.Token.Type != token.SingleQuoteType && k.Token.Type != token.DoubleQuoteType {
			d.errorf(kv.Key, "%s: keys are plain names; got %s", what, yamlKind(kv.Key))
			continue
		}
		l, c := nodePos(k)
		key := yStr{k.Value, l, c}
		if first, dup := seen[key.s]; dup {
			d.errorAt(l, c, "%s: key %q given twice (first at line %d)", what, key.s, first)
			continue
		}
		seen[key.s] = l
		if known != nil && !slices.Contains(known, key.s) {
			d.errorAt(l, c, "%s: unknown key %q (known: %s)", what, key.s, strings.Join(known, ", "))
			continue
		}
		field(key, kv.Value)
	}
	return true
}

func (d *yamlDecoder) str(what string, n ast.Node) (yStr, bool) {
	n = d.resolve(n)
	l, c := nodePos(n)
	switch v := n.(type) {
	case *ast.StringNode:
		return yStr{v.Value, l, c}, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return yStr{v.Value.Value, l, c}, true
		}
	}
	hint := ""
	if _, scalar := n.(ast.ScalarNode); scalar && n != nil {
		hint = " (quote it to make it one)"
	}
	d.errorf(n, "%s: want a string, got %s%s", what, yamlKind(n), hint)
	return yStr{}, false
}

func (d *yamlDecoder) strList(what string, n ast.Node) []yStr {
	n = d.resolve(n)
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.errorf(n, "%s: want a list, got %s (write [...])", what, yamlKind(n))
		return nil
	}
	if len(seq.Values) == 0 {
		d.errorf(n, "%s: empty list; leave the key out instead", what)
		return nil
	}
	var out []yStr
	for _, e := range seq.Values {
		if s, ok := d.str(what, e); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *yamlDecoder) integer(what string, n ast.Node) (int, bool) {
	n = d.resolve(n)
	if i, ok := n.(*ast.IntegerNode); ok {
		switch v := i.Value.(type) {
		case int64:
			if v >= 0 && v <= 1<<20 {
				return int(v), true
			}
		case uint64:
			if v <= 1<<20 {
				return int(v), true
			}
		}
		d.errorf(n, "%s: integer out of range", what)
		return 0, false
	}
	d.errorf(n, "%s: want an integer, got %s", what, yamlKind(n))
	return 0, false
}

func (d *yamlDecoder) boolean(what string, n ast.Node) bool {
	n = d.resolve(n)
	if b, ok := n.(*ast.BoolNode); ok {
		return b.Value
	}
	d.errorf(n, "%s: want true or false, got %s", what, yamlKind(n))
	return false
}

// list calls each for every entry of a non-empty list.
func (d *yamlDecoder) list(what string, n ast.Node, each func(what string, e ast.Node)) {
	n = d.resolve(n)
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.errorf(n, "%s: want a list, got %s", what, yamlKind(n))
		return
	}
	if len(seq.Values) == 0 {
		d.errorf(n, "%s: empty list; leave the key out instead", what)
	}
	for i, e := range seq.Values {
		each(what+"["+strconv.Itoa(i)+"]", e)
	}
}

var builtinDetectors = map[string]func() Detector{
	DetAccessKeyID: AccessKeyID, DetSecretKey: SecretAccessKey, DetPrivateKey: PrivateKey,
	DetJWT: JWT, DetEmail: Email, DetCard: Card, DetSSN: SSN,
}

// DetectorNames lists the built-in detectors, for profiles' detectors key.
func DetectorNames() []string {
	var out []string
	for n := range builtinDetectors {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

var (
	profileKeys = []string{"defaults", "detectors", "patterns", "deny", "replace", "fields"}
	patternKeys = []string{"name", "regex", "max_len"}
	denyKeys    = []string{"name", "values"}
	fieldKeys   = []string{"name", "actions", "paths", "when", "base64", "replace"}
	replaceKeys = []string{"fixed", "keep_last", "hash", "text"}
)

func (d *yamlDecoder) profiles(n ast.Node) []*Profile {
	var ps []*Profile
	d.mapping(n, "masks", nil, func(k yStr, v ast.Node) {
		if !validName(k.s) {
			d.errorAt(k.line, k.col, "masks: %q is not a profile name (letters, digits, '.', '_', '-')", k.s)
			return
		}
		if k.s == NoneName {
			d.errorAt(k.line, k.col, "masks: profile %q is built in (it masks nothing): choose another name", k.s)
			return
		}
		if p := d.profile(k, v); p != nil {
			ps = append(ps, p)
		}
	})
	return ps
}

func (d *yamlDecoder) profile(name yStr, n ast.Node) *Profile {
	what := "masks." + name.s
	p := &Profile{Name: name.s}
	defaults := true
	var replace ast.Node
	var replaceKey yStr
	ok := d.mapping(n, what, profileKeys, func(k yStr, v ast.Node) {
		w := what + "." + k.s
		switch k.s {
		case "defaults":
			defaults = d.boolean(w, v)
		case "detectors":
			for _, s := range d.strList(w, v) {
				mk, ok := builtinDetectors[s.s]
				if !ok {
					d.errorAt(s.line, s.col, "%s: no built-in detector %q (known: %s; custom ones go under patterns or deny)", w, s.s, strings.Join(DetectorNames(), ", "))
					continue
				}
				p.Detectors = append(p.Detectors, mk())
			}
		case "patterns":
			d.list(w, v, func(w string, e ast.Node) {
				var name, re yStr
				maxLen := 0
				l, c := nodePos(d.resolve(e))
				errs := len(d.errs)
				has := map[string]bool{}
				d.mapping(e, w, patternKeys, func(k yStr, v ast.Node) {
					has[k.s] = true
					switch k.s {
					case "name":
						name, _ = d.str(w+".name", v)
					case "regex":
						re, _ = d.str(w+".regex", v)
					case "max_len":
						maxLen, _ = d.integer(w+".max_len", v)
					}
				})
				if !has["name"] || !has["regex"] || !has["max_len"] {
					d.errorAt(l, c, "%s: name, regex and max_len (the longest match, in bytes) are required", w)
					return
				}
				if len(d.errs) > errs {
					return
				}
				det, err := Regexp(name.s, re.s, maxLen)
				if err != nil {
					d.errorAt(re.line, re.col, "%s: %v", w, err)
					return
				}
				p.Detectors = append(p.Detectors, det)
			})
		case "deny":
			d.list(w, v, func(w string, e ast.Node) {
				var name yStr
				var values []yStr
				l, c := nodePos(d.resolve(e))
				errs := len(d.errs)
				d.mapping(e, w, denyKeys, func(k yStr, v ast.Node) {
					switch k.s {
					case "name":
						name, _ = d.str(w+".name", v)
					case "values":
						values = d.strList(w+".values", v)
					}
				})
				if len(d.errs) > errs {
					return
				}
				if name.s == "" || len(values) == 0 {
					d.errorAt(l, c, "%s: name and values are required", w)
					return
				}
				vs := make([]string, len(values))
				for i, v := range values {
					vs[i] = v.s
				}
				det, err := DenyList(name.s, vs)
				if err != nil {
					d.errorAt(l, c, "%s: %v", w, err)
					return
				}
				p.Detectors = append(p.Detectors, det)
			})
		case "replace":
			replace, replaceKey = v, k
		case "fields":
			d.list(w, v, func(w string, e ast.Node) {
				if r, ok := d.field(w, e); ok {
					p.Fields = append(p.Fields, r)
				}
			})
		}
	})
	if !ok {
		return nil
	}
	// Names the replace key may use: detectors and field rules, the
	// built-in ones' too when they are on.
	names := map[string]bool{"default": true}
	seen := map[string]bool{}
	for _, det := range p.Detectors {
		if seen[det.Name()] {
			l, c := nodePos(n)
			d.errorAt(l, c, "%s: detector %q given twice", what, det.Name())
		}
		seen[det.Name()] = true
		names[det.Name()] = true
	}
	for _, r := range p.Fields {
		names[r.Name] = true
	}
	if defaults {
		for _, det := range Default().Detectors {
			names[det.Name()] = true
		}
		for _, r := range Default().Fields {
			names[r.Name] = true
		}
	}
	if replace != nil {
		p.Replacers = &Replacers{By: map[string]Replacer{}}
		d.mapping(replace, what+"."+replaceKey.s, nil, func(k yStr, v ast.Node) {
			if !names[k.s] {
				d.errorAt(k.line, k.col, "%s.replace: no detector or field rule named %q in this profile", what, k.s)
				return
			}
			r := d.replacer(what+".replace."+k.s, v)
			if r == nil {
				return
			}
			if k.s == "default" {
				p.Replacers.Default = r
			} else {
				p.Replacers.By[k.s] = r
			}
		})
	}
	if defaults {
		p = withDefaults(p)
	}
	return p
}

func (d *yamlDecoder) field(what string, n ast.Node) (FieldRule, bool) {
	r := FieldRule{Name: "field"}
	var hasActions, hasPaths bool
	l, c := nodePos(d.resolve(n))
	errs := len(d.errs)
	d.mapping(n, what, fieldKeys, func(k yStr, v ast.Node) {
		w := what + "." + k.s
		switch k.s {
		case "name":
			if s, ok := d.str(w, v); ok {
				if !validName(s.s) {
					d.errorAt(s.line, s.col, "%s: %q is not a name (letters, digits, '.', '_', '-')", w, s.s)
				}
				r.Name = s.s
			}
		case "actions":
			hasActions = true
			for _, s := range d.strList(w, v) {
				if s.s != "*" && !strings.Contains(s.s, ":") {
					d.errorAt(s.line, s.col, "%s: %q is not an IAM action (service:Action, globs with *, or \"*\")", w, s.s)
					continue
				}
				r.Actions = append(r.Actions, s.s)
			}
		case "paths":
			hasPaths = true
			for _, s := range d.strList(w, v) {
				p, err := ParsePath(s.s)
				if err != nil {
					d.errorAt(s.line, s.col, "%s: %v", w, err)
					continue
				}
				r.Paths = append(r.Paths, p)
			}
		case "when":
			r.When = map[string]string{}
			d.mapping(v, w, nil, func(k yStr, v ast.Node) {
				if s, ok := d.str(w+"."+k.s, v); ok {
					r.When[k.s] = s.s
				}
			})
		case "base64":
			r.Base64 = d.boolean(w, v)
		case "replace":
			r.Replacer = d.replacer(w, v)
		}
	})
	if !hasActions || !hasPaths {
		d.errorAt(l, c, "%s: actions and paths are required", what)
	}
	return r, len(d.errs) == errs
}

// replacer reads fixed | hash | {fixed: TEXT} | {keep_last: N, text: TEXT}
// | {hash: BYTES}.
func (d *yamlDecoder) replacer(what string, n ast.Node) Replacer {
	n = d.resolve(n)
	l, c := nodePos(n)
	if s, ok := n.(*ast.StringNode); ok {
		switch s.Value {
		case "fixed":
			return Fixed("")
		case "hash":
			return d.hash(what, l, c, 0)
		}
		d.errorAt(l, c, "%s: %q is not a replacement (fixed, hash, {fixed: TEXT}, {keep_last: N}, {hash: BYTES})", what, s.Value)
		return nil
	}
	var kind string
	var text string
	var num int
	ok := d.mapping(n, what, replaceKeys, func(k yStr, v ast.Node) {
		switch k.s {
		case "text":
			s, _ := d.str(what+".text", v)
			text = s.s
		case "fixed":
			s, _ := d.str(what+".fixed", v)
			text = s.s
			fallthrough
		default:
			if kind != "" {
				d.errorAt(k.line, k.col, "%s: give one of fixed, keep_last or hash", what)
			}
			kind = k.s
			if k.s != "fixed" {
				num, _ = d.integer(what+"."+k.s, v)
			}
		}
	})
	if !ok {
		return nil
	}
	switch kind {
	case "fixed":
		return Fixed(text)
	case "keep_last":
		if num < 1 {
			d.errorAt(l, c, "%s: keep_last must be 1 or more", what)
			return nil
		}
		return KeepLast(num, text)
	case "hash":
		if text != "" {
			d.errorAt(l, c, "%s: text goes with fixed or keep_last, not hash", what)
		}
		return d.hash(what, l, c, num)
	}
	d.errorAt(l, c, "%s: give one of fixed, keep_last or hash", what)
	return nil
}

func (d *yamlDecoder) hash(what string, l, c, n int) Replacer {
	if len(d.opts.HashKey) == 0 {
		d.errorAt(l, c, "%s: hash needs a key, and none is configured: set the gateway's mask hash key, or use fixed", what)
		return nil
	}
	r, err := Hash(d.opts.HashKey, n)
	if err != nil {
		d.errorAt(l, c, "%s: %v", what, err)
		return nil
	}
	return r
}
