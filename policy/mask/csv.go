package mask

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
)

// ErrRowTooLong is wrapped by the error of a CSV body with a record over
// CSVOptions.MaxRow: it cannot be masked in bounded memory, so it is
// refused rather than passed on.
var ErrRowTooLong = errors.New("CSV record over the cap")

// CSVOptions say what a CSV masker masks besides what its detectors find.
type CSVOptions struct {
	// Columns are the header names whose values are masked whole, found
	// without regard to case or surrounding spaces. The replacer is
	// given the name as written here.
	Columns []string
	// Comma separates fields: 0 for ',', '\t' for TSV.
	Comma byte
	// MaxRow caps one record, quoted newlines and all (0: 1 MiB).
	MaxRow int
}

// CSV masks a CSV body (RFC 4180) record by record as it is read: the
// values of the named columns whole, and in every other value what the
// detectors find. A record is masked as one text, its values joined by
// the comma, so a secret key is still found next to its access key id in
// the column beside it; a match that runs over a comma is masked in each
// value it touches. Every byte of a value left alone is copied as it was
// (quotes, CRLF or LF endings, a byte order mark); a changed value is
// quoted if it was, or if it needs to be.
//
// The first record is the header. A quote that ends a quoted value must
// be followed by the comma or the end of the record, and a quoted value
// must end: otherwise Read fails with an error wrapping ErrMalformed. A
// quote inside an unquoted value is taken as it is, as most writers mean
// it. A record over MaxRow fails with ErrRowTooLong.
type CSV struct {
	src    io.Reader
	dets   []Detector
	rep    Replacer
	cols   []string // as configured
	comma  byte
	maxRow int

	// row[rs:len(row)] is read but not yet masked; the scanner is at
	// pos in the record that starts at rs.
	row    []byte
	rs     int
	pos    int
	st     csvState
	fs     int // start of the current field
	fields []csvField
	eof    bool
	bom    bool // at the start: a byte order mark may follow
	recs   int  // records masked, the header included

	masked []string // by field index: the column to mask, or ""
	vals   [][]byte
	view   []byte
	hit    []bool // by match: masked in some value
	out    []byte
	off    int
	err    error

	mu     sync.Mutex
	counts Report
}

type csvState uint8

const (
	csvFieldStart csvState = iota
	csvUnquoted
	csvQuoted
	csvQuote   // a quote inside a quoted value: an escape or its end
	csvQuoteCR // a CR after a quoted value, which only LF may follow
)

// csvField is a value's raw bytes, quotes included, in CSV.row.
type csvField struct {
	start, end int
	quoted     bool
}

const (
	csvDefaultMaxRow = 1 << 20
	csvReadSize      = 32 << 10
)

// NewCSV returns a CSV masker reading r. Detectors with MaxLen 0 are
// welcome: each record is masked whole.
func NewCSV(r io.Reader, dets []Detector, rep Replacer, opts CSVOptions) (*CSV, error) {
	if rep == nil {
		return nil, errors.New("mask CSV: no replacer")
	}
	for _, d := range dets {
		if d == nil {
			return nil, errors.New("mask CSV: nil detector")
		}
	}
	c := &CSV{src: r, dets: dets, rep: rep, cols: opts.Columns, comma: opts.Comma, maxRow: opts.MaxRow, bom: true}
	if c.comma == 0 {
		c.comma = ','
	}
	if c.comma == '"' || c.comma == '\r' || c.comma == '\n' {
		return nil, fmt.Errorf("mask CSV: %q cannot separate fields", c.comma)
	}
	if c.maxRow == 0 {
		c.maxRow = csvDefaultMaxRow
	}
	if c.maxRow < 0 {
		return nil, fmt.Errorf("mask CSV: row cap %d is negative", c.maxRow)
	}
	return c, nil
}

// CSV masks a CSV body with the masker's detectors and the given columns
// (see CSV).
func (m *Masker) CSV(r io.Reader, opts CSVOptions) (*CSV, error) {
	return NewCSV(r, m.Detectors, m.replacer(), opts)
}

// Report returns how many values were masked so far, by column name or
// detector name; complete once Read has returned io.EOF.
func (c *CSV) Report() Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Read implements io.Reader. A read error, a malformed record or one
// over the cap is returned in place of the records not yet masked.
func (c *CSV) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for c.off == len(c.out) {
		if c.err != nil {
			return 0, c.err
		}
		c.out, c.off = c.out[:0], 0
		c.next(len(p))
	}
	n := copy(p, c.out[c.off:])
	c.off += n
	return n, nil
}

// next masks records into c.out until it holds want bytes, or until
// more input is needed and some output is ready; or it sets c.err.
func (c *CSV) next(want int) {
	for len(c.out) < want {
		end, ok, err := c.scan()
		if err != nil {
			c.err = err
			return
		}
		if ok {
			c.record(end)
			continue
		}
		if c.eof {
			c.err = io.EOF
			return
		}
		if len(c.out) > 0 {
			return
		}
		if err := c.more(); err != nil {
			c.err = err
			return
		}
	}
}

// more reads from the source, first dropping what was masked.
func (c *CSV) more() error {
	if c.rs > 0 {
		n := copy(c.row, c.row[c.rs:])
		c.row = c.row[:n]
		c.pos -= c.rs
		c.fs -= c.rs
		for i := range c.fields {
			c.fields[i].start -= c.rs
			c.fields[i].end -= c.rs
		}
		c.rs = 0
	}
	if cap(c.row)-len(c.row) < csvReadSize {
		c.row = append(c.row, make([]byte, csvReadSize)...)[:len(c.row)]
	}
	n, err := c.src.Read(c.row[len(c.row):cap(c.row)])
	c.row = c.row[:len(c.row)+n]
	if c.bom && (len(c.row) >= 3 || err != nil) {
		if bytes.HasPrefix(c.row, []byte("\xef\xbb\xbf")) {
			c.out = append(c.out, c.row[:3]...)
			c.rs, c.pos, c.fs = 3, 3, 3
		}
		c.bom = false
	}
	switch {
	case err == io.EOF:
		c.eof = true
	case err != nil:
		return err
	}
	return nil
}

// scan goes on reading the record at c.rs; ok says it is complete and
// ends before end (its line ending included). At the end of the body
// the rest is the last record.
func (c *CSV) scan() (end int, ok bool, err error) {
	if c.bom {
		return 0, false, nil
	}
	b := c.row
	for ; c.pos < len(b); c.pos++ {
		if c.pos-c.rs >= c.maxRow {
			return 0, false, fmt.Errorf("mask CSV: record %d: %w (%d bytes)", c.recs+1, ErrRowTooLong, c.maxRow)
		}
		ch := b[c.pos]
		switch c.st {
		case csvFieldStart:
			c.fs = c.pos
			switch ch {
			case '"':
				c.st = csvQuoted
				continue
			case c.comma:
				c.field(c.pos, false)
				continue
			case '\n':
				c.field(c.pos, false)
				return c.done(c.pos + 1)
			}
			c.st = csvUnquoted
		case csvUnquoted:
			switch ch {
			case c.comma:
				c.field(c.pos, false)
				c.st = csvFieldStart
			case '\n':
				e := c.pos
				if e > c.fs && b[e-1] == '\r' {
					e--
				}
				c.field(e, false)
				return c.done(c.pos + 1)
			case '"':
				if len(bytes.TrimLeft(b[c.fs:c.pos], " \t")) == 0 {
					return 0, false, c.malformed("a quote after spaces at the start of a value (readers disagree on where it ends)")
				}
			}
		case csvQuoted:
			if ch == '"' {
				c.st = csvQuote
			}
		case csvQuote:
			switch ch {
			case '"':
				c.st = csvQuoted
			case c.comma:
				c.field(c.pos, true)
				c.st = csvFieldStart
			case '\n':
				c.field(c.pos, true)
				return c.done(c.pos + 1)
			case '\r':
				c.st = csvQuoteCR
			default:
				return 0, false, c.malformed("text after the closing quote of a value")
			}
		case csvQuoteCR:
			if ch != '\n' {
				return 0, false, c.malformed("text after the closing quote of a value")
			}
			c.field(c.pos-1, true)
			return c.done(c.pos + 1)
		}
	}
	if !c.eof || c.pos == c.rs {
		return 0, false, nil
	}
	// The last record, without a line ending; a CR at the very end is
	// taken for one, as it is before LF.
	switch c.st {
	case csvFieldStart:
		c.field(c.pos, false)
	case csvUnquoted:
		e := c.pos
		if e > c.fs && b[e-1] == '\r' {
			e--
		}
		c.field(e, false)
	case csvQuote:
		c.field(c.pos, true)
	case csvQuoteCR:
		c.field(c.pos-1, true)
	case csvQuoted:
		return 0, false, c.malformed("a quoted value does not end")
	}
	return c.done(c.pos)
}

func (c *CSV) field(end int, quoted bool) {
	c.fields = append(c.fields, csvField{c.fs, end, quoted})
	c.fs = end + 1
}

func (c *CSV) done(end int) (int, bool, error) {
	c.pos = end
	c.st = csvFieldStart
	return end, true, nil
}

func (c *CSV) malformed(why string) error {
	return fmt.Errorf("mask CSV: record %d: %w: %s", c.recs+1, ErrMalformed, why)
}

// record masks the record row[rs:end] into c.out.
func (c *CSV) record(end int) {
	b := c.row
	c.vals = c.vals[:0]
	c.view = c.view[:0]
	for i, f := range c.fields {
		v := b[f.start:f.end]
		if f.quoted {
			v = v[1 : len(v)-1]
			if bytes.Contains(v, []byte(`""`)) {
				v = bytes.ReplaceAll(v, []byte(`""`), []byte(`"`))
			}
		}
		if i > 0 {
			c.view = append(c.view, c.comma)
		}
		c.view = append(c.view, v...)
		c.vals = append(c.vals, v)
	}
	header := c.recs == 0
	if header {
		c.columns()
	}
	var counts Report
	ms := FindAll(c.view, c.dets)
	c.hit = c.hit[:0]
	for range ms {
		c.hit = append(c.hit, false)
	}
	at, vs := c.rs, 0 // raw bytes copied up to at; value i starts at vs in view
	for i, f := range c.fields {
		v := c.vals[i]
		var nv []byte
		switch {
		case !header && i < len(c.masked) && c.masked[i] != "" && len(v) > 0:
			nv = c.rep.Replace(c.masked[i], v)
			counts.add(c.masked[i], 1)
		default:
			nv = c.pieces(v, vs, ms)
		}
		vs += len(v) + 1
		if nv == nil {
			continue
		}
		c.out = append(c.out, b[at:f.start]...)
		c.out = csvAppendValue(c.out, nv, f.quoted, c.comma)
		at = f.end
	}
	c.out = append(c.out, b[at:end]...)
	for i, m := range ms {
		if c.hit[i] {
			counts.add(m.Detector, 1)
		}
	}
	c.rs = end
	c.fields = c.fields[:0]
	c.fs = end
	c.recs++
	if len(counts) > 0 {
		c.mu.Lock()
		c.counts.Merge(counts)
		c.mu.Unlock()
	}
}

// pieces replaces the parts of matches that fall in value v, which
// starts at vs in the record's view; nil when none does.
func (c *CSV) pieces(v []byte, vs int, ms []Match) []byte {
	ve := vs + len(v)
	var out []byte
	at := 0
	for i, m := range ms {
		s, e := max(m.Start, vs), min(m.End, ve)
		if s >= e {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(v))
		}
		out = append(out, v[at:s-vs]...)
		out = append(out, c.rep.Replace(m.Detector, v[s-vs:e-vs])...)
		at = e - vs
		c.hit[i] = true
	}
	if out == nil {
		return nil
	}
	return append(out, v[at:]...)
}

// columns reads the header: which fields are masked whole.
func (c *CSV) columns() {
	c.masked = c.masked[:0]
	found := false
	for _, v := range c.vals {
		name := ""
		h := strings.TrimSpace(string(v))
		for _, col := range c.cols {
			if strings.EqualFold(h, strings.TrimSpace(col)) {
				name, found = col, true
				break
			}
		}
		c.masked = append(c.masked, name)
	}
	if !found {
		c.masked = c.masked[:0]
	}
}

// csvAppendValue appends v as a field: quoted if the original was or if
// v holds a quote, the comma or a line break.
func csvAppendValue(dst, v []byte, quoted bool, comma byte) []byte {
	if !quoted && bytes.IndexByte(v, comma) < 0 && bytes.IndexAny(v, "\"\r\n") < 0 {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for _, ch := range v {
		if ch == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, ch)
	}
	return append(dst, '"')
}
