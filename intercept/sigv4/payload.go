package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"strings"
)

// VerifyPayload wraps a body declared with a literal hex SHA-256. It hashes
// while streaming and always holds back the last byte read until the body
// has ended and the hash matched; on a mismatch Read returns an *Error
// (XAmzContentSHA256Mismatch, 400) instead of that byte, so an upstream
// never receives a complete body that was not verified.
func VerifyPayload(body io.Reader, wantHex string) io.Reader {
	want, err := hex.DecodeString(strings.ToLower(wantHex))
	if err != nil || len(want) != sha256.Size {
		want = nil // matches nothing
	}
	return &payloadVerifier{src: body, h: sha256.New(), want: want, buf: make([]byte, 32<<10)}
}

type payloadVerifier struct {
	src  io.Reader
	h    hash.Hash
	want []byte
	buf  []byte
	pend []byte // read, not yet returned; its last byte is the one held back
	eof  bool   // src has ended
	err  error  // sticky
}

func (v *payloadVerifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(v.pend) > 1 {
			n := copy(p, v.pend[:len(v.pend)-1])
			v.pend = v.pend[n:]
			return n, nil
		}
		if v.eof {
			if v.want == nil || !bytes.Equal(v.h.Sum(nil), v.want) {
				v.err = payloadMismatch()
				return 0, v.err
			}
			n := copy(p, v.pend)
			v.pend, v.err = nil, io.EOF
			return n, v.err
		}
		k := copy(v.buf, v.pend)
		n, err := v.src.Read(v.buf[k:])
		v.h.Write(v.buf[k : k+n])
		v.pend = v.buf[:k+n]
		switch {
		case errors.Is(err, io.EOF):
			v.eof = true
		case err != nil:
			v.err = fmt.Errorf("sigv4: read body: %w", err)
			return 0, v.err
		case n == 0:
			return 0, nil
		}
	}
}

// spoolInMemory is the most Spool keeps in memory; beyond it, a temp file.
const spoolInMemory = 1 << 20

// Spool reads a body that declared no hash, up to max bytes (more is an
// *Error with EntityTooLarge), and returns its hex SHA-256 and a reader
// that replays it: from memory up to 1 MiB, beyond that from a temp file
// in tmpDir (mode 0600) that Close removes. On error nothing is left on
// disk.
func Spool(body io.Reader, max int64, tmpDir string) (hash string, replay io.ReadCloser, err error) {
	max = maxInt(max, 0)
	h := sha256.New()
	limit := max + 1 // one byte more tells "too large" from "exactly max"
	if max == math.MaxInt64 {
		limit = max
	}
	src := io.TeeReader(io.LimitReader(body, limit), h)
	tooLarge := entityTooLarge(fmt.Sprintf("The request body is larger than the %d bytes Gatehouse buffers to hash it.", max))

	var mem bytes.Buffer
	n, err := io.CopyN(&mem, src, spoolInMemory+1)
	switch {
	case errors.Is(err, io.EOF):
		if n > max {
			return "", nil, tooLarge
		}
		return hex.EncodeToString(h.Sum(nil)), io.NopCloser(bytes.NewReader(mem.Bytes())), nil
	case err != nil:
		return "", nil, fmt.Errorf("sigv4: spool body: %w", err)
	case n > max:
		return "", nil, tooLarge
	}

	f, err := os.CreateTemp(tmpDir, "gatehouse-body-*")
	if err != nil {
		return "", nil, fmt.Errorf("sigv4: spool body: %w", err)
	}
	t := &tempFile{f}
	fail := func(err error) (string, io.ReadCloser, error) {
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return "", nil, err
	}
	if _, err := f.Write(mem.Bytes()); err != nil {
		return fail(fmt.Errorf("sigv4: spool body: %w", err))
	}
	m, err := io.Copy(f, src)
	if err != nil {
		return fail(fmt.Errorf("sigv4: spool body: %w", err))
	}
	if n+m > max {
		return fail(tooLarge)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("sigv4: spool body: %w", err))
	}
	return hex.EncodeToString(h.Sum(nil)), t, nil
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// tempFile is a spooled body; Close removes it.
type tempFile struct{ *os.File }

func (t *tempFile) Close() error {
	return errors.Join(t.File.Close(), os.Remove(t.File.Name()))
}
