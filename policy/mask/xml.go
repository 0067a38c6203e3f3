package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// XML masks an XML document (query-protocol and REST-XML responses, S3
// listings). Paths name elements by local name from below the root
// element (GetParameterResult.Parameter.Value under
// GetParameterResponse; naming the root as well also matches); a
// repeated element needs no [*], and [*] also steps over the member or
// item wrappers of query-protocol lists (Users[*].UserName matches
// Users/member/UserName). A matched element's text is replaced whole,
// and each leaf below a matched element with children; FieldRule.When is
// not evaluated (the rule applies, which masks more). The detectors scan
// every other text node. Attributes are neither matched nor scanned: AWS
// puts no values there.
//
// Only the masked text changes; markup, namespaces, comments and
// whitespace are copied byte for byte (doc itself is returned when
// nothing is masked). A document that is not
// well-formed, declares an encoding other than UTF-8, has no element or
// nests deeper than 512 levels is an error wrapping ErrMalformed.
func (m *Masker) XML(doc []byte) ([]byte, Report, error) {
	x := xmlMasker{m: m}
	if err := x.run(doc); err != nil {
		return nil, nil, fmt.Errorf("mask XML: %w: %w", ErrMalformed, err)
	}
	if len(x.edits) == 0 {
		return doc, x.report, nil
	}
	return splice(doc, x.edits), x.report, nil
}

type xstate struct {
	r     *FieldRule
	steps []step
}

type xframe struct {
	states       []xstate   // paths still to match below this element
	masked       *FieldRule // this element is masked (by this rule)
	contentStart int
	hasChild     bool
	text         []byte
}

type xmlMasker struct {
	m      *Masker
	edits  []edit
	report Report
}

func (x *xmlMasker) run(doc []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	var stack []*xframe
	var roots int
	// Adjacent text and CDATA are one text to the detectors, as they are
	// to whoever reads the document: "CANA<![CDATA[RY]]>" is CANARY.
	var run struct {
		start, end int
		text       []byte
	}
	flush := func() {
		if run.end > run.start {
			x.detect(run.start, run.end, run.text)
		}
		run.start, run.end, run.text = 0, 0, run.text[:0]
	}
	for {
		start := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		end := int(dec.InputOffset())
		if _, text := tok.(xml.CharData); !text {
			flush()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == maxDepth {
				return fmt.Errorf("nested more than %d levels", maxDepth)
			}
			f := &xframe{contentStart: end}
			name := t.Name.Local
			if len(stack) == 0 {
				roots++
				for i := range x.m.Fields {
					r := &x.m.Fields[i]
					for _, p := range r.Paths {
						f.states = append(f.states, xstate{r, p.steps})
						// The root may be named too: AssumeRoleResponse.AssumeRoleResult...
						next, matched := advance([]xstate{{r, p.steps}}, name)
						if matched == nil {
							f.states = append(f.states, next...)
						}
					}
				}
			} else {
				parent := stack[len(stack)-1]
				if parent.masked != nil && !parent.hasChild && len(bytes.TrimSpace(parent.text)) > 0 {
					// Mixed content: the text before the first child.
					x.edits = append(x.edits, edit{parent.contentStart, start, x.replaceField(parent.masked, parent.text)})
				}
				parent.hasChild = true
				if parent.masked != nil {
					f.masked = parent.masked
				} else {
					f.states, f.masked = advance(parent.states, name)
				}
			}
			stack = append(stack, f)
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.masked != nil && !f.hasChild && len(f.text) > 0 {
				x.edits = append(x.edits, edit{f.contentStart, start, x.replaceField(f.masked, f.text)})
			}
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return fmt.Errorf("text outside the root element")
				}
				continue
			}
			f := stack[len(stack)-1]
			switch {
			case f.masked != nil && !f.hasChild:
				// Held until the end tag: the element's whole text is
				// one value, even when split by comments or CDATA.
				f.text = append(f.text, t...)
			case f.masked != nil:
				if len(bytes.TrimSpace(t)) > 0 { // mixed content under a masked element
					x.edits = append(x.edits, edit{start, end, x.replaceField(f.masked, t)})
				}
			default:
				if run.end != start {
					flush()
					run.start = start
				}
				run.end = end
				run.text = append(run.text, t...)
			}
		}
	}
	flush()
	if roots == 0 {
		return errors.New("no root element")
	}
	return nil
}

// advance matches a child element's name against its parent's states,
// returning the states for the child's own children and, when a path
// ends at the child, the rule that masks it.
func advance(states []xstate, name string) ([]xstate, *FieldRule) {
	var next []xstate
	var matched *FieldRule
	var step1 func(r *FieldRule, steps []step)
	step1 = func(r *FieldRule, steps []step) {
		if len(steps) == 0 {
			return
		}
		rest := steps[1:]
		switch st := steps[0]; st.kind {
		case stepAnyDepth:
			step1(r, rest)                        // no level
			next = append(next, xstate{r, steps}) // this level, and maybe more
			return
		case stepElem:
			step1(r, rest) // repeated elements: no level
			if name != "member" && name != "item" {
				return
			}
		case stepKey:
			if name != st.key {
				return
			}
		}
		if len(rest) == 0 || onlyElems(rest) {
			if matched == nil {
				matched = r
			}
			return
		}
		next = append(next, xstate{r, rest})
	}
	for _, s := range states {
		step1(s.r, s.steps)
	}
	return next, matched
}

func onlyElems(steps []step) bool {
	for _, s := range steps {
		if s.kind != stepElem {
			return false
		}
	}
	return true
}

func (x *xmlMasker) replaceField(r *FieldRule, v []byte) []byte {
	var out []byte
	if r.Replacer != nil {
		out = r.Replacer.Replace(r.Name, v)
	} else {
		out = x.m.replacer().Replace(r.Name, v)
	}
	if r.Base64 {
		out = []byte(base64.StdEncoding.EncodeToString(out))
	}
	x.report.add(r.Name, 1)
	return escapeXML(out)
}

func (x *xmlMasker) detect(start, end int, text []byte) {
	if len(x.m.Detectors) == 0 {
		return
	}
	ms := FindAll(text, x.m.Detectors)
	if len(ms) == 0 {
		return
	}
	x.edits = append(x.edits, edit{start, end, escapeXML(x.m.apply(text, ms, &x.report))})
}

func escapeXML(s []byte) []byte {
	var b bytes.Buffer
	xml.EscapeText(&b, s)
	return b.Bytes()
}
