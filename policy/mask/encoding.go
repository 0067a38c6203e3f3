package mask

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrUnsupportedEncoding is wrapped by Recode's error for a body whose
// Content-Encoding it cannot decode: such a body cannot be masked, so it
// must be refused.
var ErrUnsupportedEncoding = errors.New("unsupported content encoding")

// Recode masks a body sent with a Content-Encoding as it streams: it
// decodes the body, hands the text to mask (NewStream, NewCSV, ...), and
// encodes what mask returns the same way.
//
//	body, err := mask.Recode(resp.Body, resp.Header.Get("Content-Encoding"),
//		func(r io.Reader) (io.Reader, error) { return m.Stream(r, mask.StreamOptions{}) })
//
// "" and "identity" hand the body to mask as it is. "gzip" and "x-gzip"
// are decoded and encoded again as one gzip member (fastest level, the
// original's name and time kept); an empty body stays empty. Anything
// else (br, zstd, compress, deflate, whose framing senders disagree on,
// or several codings) is an error wrapping ErrUnsupportedEncoding,
// returned before a byte is read. The length changes: the caller drops
// Content-Length and checksums of the encoded body.
//
// A body that is not the gzip it claims to be fails Read with an error
// wrapping ErrMalformed; the source's own errors come out of Read as they
// are. Either way the encoded output is cut short of its trailer, so no
// client takes it for a whole body.
func Recode(body io.Reader, contentEncoding string, mask func(io.Reader) (io.Reader, error)) (io.Reader, error) {
	var codings []string
	for c := range strings.SplitSeq(contentEncoding, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if c != "" && c != "identity" {
			codings = append(codings, c)
		}
	}
	switch {
	case len(codings) == 0:
		return mask(body)
	case len(codings) == 1 && (codings[0] == "gzip" || codings[0] == "x-gzip"):
		dec := &gunzip{src: body}
		text, err := mask(dec)
		if err != nil {
			return nil, err
		}
		return &regzip{src: text, dec: dec}, nil
	}
	return nil, fmt.Errorf("mask %q body: %w: only gzip can be decoded and masked", contentEncoding, ErrUnsupportedEncoding)
}

// gunzip decodes gzip, reading the header on the first Read rather than
// when built, so every error comes out of Read.
type gunzip struct {
	src   io.Reader
	zr    *gzip.Reader
	hdr   gzip.Header
	empty bool // the body had no bytes at all
	err   error
}

func (g *gunzip) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		zr, err := gzip.NewReader(g.src)
		if err == io.EOF {
			g.empty, g.err = true, io.EOF
			return 0, io.EOF
		}
		if err != nil {
			g.err = gzipError(err)
			return 0, g.err
		}
		g.zr, g.hdr = zr, zr.Header
	}
	n, err := g.zr.Read(p)
	if err != nil {
		g.err = gzipError(err)
	}
	return n, g.err
}

// gzipError marks errors of the gzip format as ErrMalformed and leaves
// the source's own (a reset connection, a timeout) as they are.
func gzipError(err error) error {
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt) {
		return fmt.Errorf("mask gzip body: %w: %w", ErrMalformed, err)
	}
	return err
}

// regzip encodes the masked text as gzip again, as it is read: compressed
// bytes wait in out only until the caller reads them.
type regzip struct {
	src io.Reader
	dec *gunzip
	zw  *gzip.Writer
	in  []byte
	out bytes.Buffer
	err error
}

func (z *regzip) Read(p []byte) (int, error) {
	for z.out.Len() == 0 {
		if z.err != nil {
			return 0, z.err
		}
		z.fill()
	}
	return z.out.Read(p)
}

// fill compresses the next piece of text into out, or sets z.err.
func (z *regzip) fill() {
	if z.in == nil {
		z.in = make([]byte, 32<<10)
	}
	n, err := z.src.Read(z.in)
	if z.zw == nil && (n > 0 || err == io.EOF && !z.dec.empty) {
		// The header has been read by now: keep its name and time.
		z.zw, _ = gzip.NewWriterLevel(&z.out, gzip.BestSpeed)
		z.zw.Name, z.zw.Comment, z.zw.ModTime, z.zw.OS = z.dec.hdr.Name, z.dec.hdr.Comment, z.dec.hdr.ModTime, z.dec.hdr.OS
	}
	if n > 0 {
		if _, werr := z.zw.Write(z.in[:n]); werr != nil {
			z.err = werr
			return
		}
	}
	switch {
	case err == io.EOF:
		if z.zw != nil {
			if cerr := z.zw.Close(); cerr != nil {
				z.err = cerr
				return
			}
		}
		z.err = io.EOF
	case err != nil:
		z.err = err // no trailer: the output is not a whole gzip body
	}
}
