package mask

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func csvMask(t testing.TB, src io.Reader, dets []Detector, rep Replacer, opts CSVOptions) ([]byte, *CSV, error) {
	t.Helper()
	c, err := NewCSV(src, dets, rep, opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	return out, c, err
}

func TestCSVColumnsAndDetectors(t *testing.T) {
	cols := CSVOptions{Columns: []string{"Email", " SSN "}}
	rep := &Replacers{Default: Fixed("****"), By: map[string]Replacer{"card": KeepLast(4, "#")}}
	dets := []Detector{Card(), AccessKeyID(), SecretAccessKey()}
	cases := []struct{ name, in, want string }{{
		name: "plain",
		in:   "id,email,ssn,note\n1,a@example.com,078-05-1120,paid with 4111 1111 1111 1111\n2,,,nothing\n",
		want: "id,email,ssn,note\n1,****,****,paid with #1111\n2,,,nothing\n",
	}, {
		name: "quoted values with commas, quotes and newlines",
		in:   "id,email,note\r\n1,\"a@x.org, b@y.org\",\"she said \"\"hi\"\",\r\nthen paid 4111111111111111\"\r\n",
		want: "id,email,note\r\n1,\"****\",\"she said \"\"hi\"\",\r\nthen paid #1111\"\r\n",
	}, {
		name: "header found without regard to case and spaces, BOM kept",
		in:   "\xef\xbb\xbfEMAIL, ssn ,x\na,b,c",
		want: "\xef\xbb\xbfEMAIL, ssn ,x\n****,****,c",
	}, {
		name: "ragged records, empty lines and a masked column past the short ones",
		in:   "a,b,email\n1\n\n1,2,x@y.z,extra 4111111111111111\n",
		want: "a,b,email\n1\n\n1,2,****,extra #1111\n",
	}, {
		name: "a secret key found next to its key id in the column beside it",
		in:   "user,access key id,secret access key\nbob,AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
		want: "user,access key id,secret access key\nbob,****,****\n",
	}, {
		name: "no column of the header is named",
		in:   "x,y\n1,2\n",
		want: "x,y\n1,2\n",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, mk := range []func(string) io.Reader{
				func(s string) io.Reader { return strings.NewReader(s) },
				func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
				func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
			} {
				got, _, err := csvMask(t, mk(c.in), dets, rep, cols)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != c.want {
					t.Fatalf("got  %q\nwant %q", got, c.want)
				}
			}
		})
	}
}

// A value that needs quotes once masked gets them; the output still reads
// as the same records.
func TestCSVQuotesReplacements(t *testing.T) {
	in := "name,email\nbob,bob@example.com\n"
	got, _, err := csvMask(t, strings.NewReader(in), nil, Fixed(`masked, "really"`), CSVOptions{Columns: []string{"email"}})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatalf("output %q: %v", got, err)
	}
	if fmt.Sprint(recs) != fmt.Sprint([][]string{{"name", "email"}, {"bob", `masked, "really"`}}) {
		t.Fatalf("records %q from %q", recs, got)
	}
}

// A match that runs over a comma (a custom pattern) is masked in each
// value it touches, and counted once.
func TestCSVMatchOverComma(t *testing.T) {
	re, err := Regexp("pair", `k=\w+,v=\w+`, 40)
	if err != nil {
		t.Fatal(err)
	}
	got, c, err := csvMask(t, strings.NewReader("a,b\nk=1,v=2\n"), []Detector{re}, Fixed("#"), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "a,b\n#,#\n" || c.Report()["pair"] != 1 {
		t.Fatalf("got %q, report %v", got, c.Report())
	}
}

func TestCSVReport(t *testing.T) {
	in := "email,note\na@b.cc,card 4111111111111111\nc@d.ee,x\n,\n"
	_, c, err := csvMask(t, strings.NewReader(in), []Detector{Card(), Email()}, Fixed(""), CSVOptions{Columns: []string{"email"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Report()); got != "map[card:1 email:2]" {
		t.Fatalf("report %s", got)
	}
}

func TestCSVFailsClosed(t *testing.T) {
	boom := errors.New("connection reset")
	cases := []struct {
		name string
		src  io.Reader
		opts CSVOptions
		want error
	}{
		{"record over the cap", strings.NewReader("a,b\n" + strings.Repeat("x", 100) + "\n"), CSVOptions{MaxRow: 64}, ErrRowTooLong},
		{"quoted newlines over the cap", strings.NewReader("a\n\"" + strings.Repeat("\n", 100) + "\"\n"), CSVOptions{MaxRow: 64}, ErrRowTooLong},
		{"last record over the cap", strings.NewReader("a\n" + strings.Repeat("x", 65)), CSVOptions{MaxRow: 64}, ErrRowTooLong},
		{"quote never closed", strings.NewReader("a,b\n1,\"2\n3\n"), CSVOptions{}, ErrMalformed},
		{"text after a closing quote", strings.NewReader("a,b\n1,\"2\"x\n"), CSVOptions{}, ErrMalformed},
		{"CR alone after a closing quote", strings.NewReader("a,b\n1,\"2\"\rx\n"), CSVOptions{}, ErrMalformed},
		{"quote after leading spaces", strings.NewReader("a,b\n1, \"2,3\"\n"), CSVOptions{}, ErrMalformed},
		{"read error in a record", io.MultiReader(strings.NewReader("email\na@b.cc\nsecret@exa"), iotest.ErrReader(boom)), CSVOptions{Columns: []string{"email"}}, boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := csvMask(t, iotest.HalfReader(c.src), nil, Fixed(""), c.opts)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v (output %q)", err, c.want, got)
			}
			if bytes.Contains(got, []byte("secret")) || bytes.Contains(got, []byte("xxx")) {
				t.Fatalf("part of a failed record came out: %q", got)
			}
		})
	}
	// A record of exactly the cap, line ending included, is fine.
	in := "a\n" + strings.Repeat("x", 63) + "\n"
	if got, _, err := csvMask(t, strings.NewReader(in), nil, Fixed(""), CSVOptions{MaxRow: 64}); err != nil || string(got) != in {
		t.Fatalf("record at the cap: %q, %v", got, err)
	}
}

func TestCSVLastRecord(t *testing.T) {
	for _, in := range []string{"", "\n", "a", "a,", "\"a\"", "\"a\"\r", "a\r", "a,\"b\"\"\"", "a\r\n\r\n"} {
		got, _, err := csvMask(t, strings.NewReader(in), nil, Fixed(""), CSVOptions{Columns: []string{"a"}})
		if err != nil || string(got) != in {
			t.Errorf("%q: got %q, %v", in, got, err)
		}
	}
}

func TestNewCSVRefuses(t *testing.T) {
	for name, opts := range map[string]CSVOptions{"quote as comma": {Comma: '"'}, "negative cap": {MaxRow: -1}} {
		if _, err := NewCSV(strings.NewReader(""), nil, Fixed(""), opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewCSV(strings.NewReader(""), nil, nil, CSVOptions{}); err == nil {
		t.Error("no replacer: accepted")
	}
}

func TestCSVTabs(t *testing.T) {
	in := "id\tssn\n1\t078-05-1120\n"
	got, _, err := csvMask(t, strings.NewReader(in), nil, Fixed(""), CSVOptions{Comma: '\t', Columns: []string{"ssn"}})
	if err != nil || string(got) != "id\tssn\n1\t****\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// FuzzCSV: a body Go's strict CSV reader accepts is masked without error
// into records that reader reads as the same records, with the column
// masked whole and a planted canary never surviving.
func FuzzCSV(f *testing.F) {
	f.Add("a,b\n1,2\n", uint16(5))
	f.Add("b,c\r\n\"x,\r\ny\",\"\"\"q\"\r\n", uint16(9))
	f.Add("id, B ,note\n1,,\"CANARY-8d1f2\"\n2,x\r", uint16(0))
	f.Add("b\n\"\"\n\n,", uint16(3))
	deny, err := DenyList("canary", []string{stCanary})
	if err != nil {
		f.Fatal(err)
	}
	rep := &Replacers{By: map[string]Replacer{"b": Fixed(`M,"X`), "canary": Fixed("[c]")}}
	f.Fuzz(func(t *testing.T, in string, at uint16) {
		pos := int(at) % (len(in) + 1)
		in = in[:pos] + stCanary + in[pos:]
		got, _, err := csvMask(t, strings.NewReader(in), []Detector{deny}, rep, CSVOptions{Columns: []string{"b"}, MaxRow: 1 << 16})
		if bytes.Contains(got, []byte(stCanary)) {
			t.Fatalf("canary survived: %q", got)
		}
		want, rerr := readCSV(in)
		if rerr != nil || strings.HasPrefix(in, "\n") || strings.HasPrefix(in, "\r\n") || strings.HasPrefix(in, "\xef\xbb\xbf") || len(in) > 1<<16 {
			return // not a body the comparison is about
		}
		if err != nil {
			t.Fatalf("Go's reader takes %q, the masker fails: %v", in, err)
		}
		for i, rec := range want {
			for j, v := range rec {
				switch {
				case i > 0 && j < len(want[0]) && strings.EqualFold(strings.TrimSpace(want[0][j]), "b") && v != "":
					rec[j] = `M,"X`
				default:
					rec[j] = strings.ReplaceAll(v, stCanary, "[c]")
				}
			}
		}
		recs, err := readCSV(string(got))
		if err != nil {
			t.Fatalf("output %q of %q: %v", got, in, err)
		}
		if fmt.Sprintf("%q", recs) != fmt.Sprintf("%q", want) {
			t.Fatalf("in %q\nout %q\n got records %q\nwant records %q", in, got, recs, want)
		}
	})
}

func readCSV(s string) ([][]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	return r.ReadAll()
}
