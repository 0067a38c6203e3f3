package mask

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func gzipped(t testing.TB, name string, members ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, m := range members {
		zw := gzip.NewWriter(&b)
		zw.Name, zw.ModTime = name, time.Unix(1700000000, 0)
		if _, err := zw.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func streamWith(t testing.TB, dets []Detector, rep Replacer, block int) func(io.Reader) (io.Reader, error) {
	return func(r io.Reader) (io.Reader, error) {
		return NewStream(r, dets, rep, StreamOptions{BlockSize: block})
	}
}

func TestRecodeGzipRoundTrip(t *testing.T) {
	dets := stDetectors(t)
	text := strings.Repeat(stText+"\n", 200)
	want := stWhole([]byte(text+text), dets, stTag{})
	body := gzipped(t, "cards.txt", text, text) // two members, as concatenated logs are
	for name, src := range map[string]io.Reader{
		"whole":    bytes.NewReader(body),
		"one byte": iotest.OneByteReader(bytes.NewReader(body)),
		"half":     iotest.HalfReader(bytes.NewReader(body)),
	} {
		t.Run(name, func(t *testing.T) {
			r, err := Recode(src, " GZIP ", streamWith(t, dets, stTag{}, 100))
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decoded output differs from the masked text (%d and %d bytes)", len(got), len(want))
			}
			if zr.Name != "cards.txt" || !zr.ModTime.Equal(time.Unix(1700000000, 0)) {
				t.Fatalf("header: name %q, time %v", zr.Name, zr.ModTime)
			}
		})
	}
}

func TestRecodeIdentityAndEmpty(t *testing.T) {
	dets := stDetectors(t)
	for _, ce := range []string{"", "identity", " Identity "} {
		r, err := Recode(strings.NewReader(stText), ce, streamWith(t, dets, stTag{}, 0))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, stWhole([]byte(stText), dets, stTag{})) {
			t.Fatalf("%q: %q, %v", ce, got, err)
		}
	}
	// An empty body stays empty; an empty text in gzip stays a gzip.
	for in, wantLen := range map[string]int{"": 0, string(gzipped(t, "", "")): -1} {
		r, err := Recode(strings.NewReader(in), "gzip, identity", streamWith(t, dets, stTag{}, 0))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if wantLen == 0 && len(got) != 0 {
			t.Fatalf("empty body became %q", got)
		}
		if wantLen < 0 {
			zr, err := gzip.NewReader(bytes.NewReader(got))
			if err != nil {
				t.Fatalf("%q: %v", got, err)
			}
			if text, err := io.ReadAll(zr); err != nil || len(text) != 0 {
				t.Fatalf("%q, %v", text, err)
			}
		}
	}
}

func TestRecodeRefusesEncodings(t *testing.T) {
	for _, ce := range []string{"br", "zstd", "deflate", "compress", "gzip, gzip", "gzip, br", "aws-chunked"} {
		called := false
		_, err := Recode(strings.NewReader("x"), ce, func(r io.Reader) (io.Reader, error) { called = true; return r, nil })
		if !errors.Is(err, ErrUnsupportedEncoding) || called {
			t.Errorf("%q: error %v, mask called %v", ce, err, called)
		}
	}
}

func TestRecodeFailsClosed(t *testing.T) {
	dets := stDetectors(t)
	body := gzipped(t, "", strings.Repeat(stText, 100))
	corrupt := bytes.Clone(body)
	corrupt[len(corrupt)/2] ^= 0xff
	badSum := bytes.Clone(body)
	badSum[len(badSum)-6] ^= 0xff // the CRC-32 in the trailer
	boom := errors.New("connection reset")
	cases := []struct {
		name string
		src  io.Reader
		want error
	}{
		{"not gzip", strings.NewReader("hunter alice, in plain text"), ErrMalformed},
		{"corrupt data", bytes.NewReader(corrupt), ErrMalformed},
		{"bad checksum", bytes.NewReader(badSum), ErrMalformed},
		{"cut short", bytes.NewReader(body[:len(body)-20]), io.ErrUnexpectedEOF},
		{"read error", io.MultiReader(bytes.NewReader(body[:len(body)/2]), iotest.ErrReader(boom)), boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Recode(c.src, "gzip", streamWith(t, dets, stTag{}, 64))
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(r)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			// What came out is not a whole gzip body.
			if zr, err := gzip.NewReader(bytes.NewReader(out)); err == nil {
				if _, err := io.ReadAll(zr); err == nil {
					t.Fatalf("the output of a failed body decodes whole")
				}
			}
		})
	}
	t.Run("masker refused", func(t *testing.T) {
		_, err := Recode(bytes.NewReader(body), "gzip", func(r io.Reader) (io.Reader, error) {
			return NewStream(r, []Detector{wholeOnly{}}, stTag{}, StreamOptions{})
		})
		if err == nil {
			t.Fatal("no error")
		}
	})
}
