package sigv4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	agentScope = Scope{Date: "20250301", Region: "us-east-1", Service: "s3"}
	agentKeys  = ChunkKeys{Key: SigningKey(agentCreds.SecretAccessKey, agentScope), Scope: agentScope, Date: t0,
		Seed: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
	upScope = Scope{Date: "20250301", Region: "us-east-1", Service: "s3"}
	upKeys  = ChunkKeys{Key: SigningKey(upstreamCreds.SecretAccessKey, upScope), Scope: upScope, Date: t0.Add(2 * time.Second),
		Seed: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}
)

func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func TestChunkResignerRechainsSignatures(t *testing.T) {
	cases := []struct {
		name      string
		size      int
		chunkSize int
		trailers  []string
	}{
		{"several chunks", 200 << 10, 64 << 10, nil},
		{"one short chunk", 10, 64 << 10, nil},
		{"empty payload", 0, 64 << 10, nil},
		{"exact multiple of the chunk size", 128 << 10, 64 << 10, nil},
		{"with a checksum trailer", 100 << 10, 64 << 10, []string{"x-amz-checksum-crc32:sOO8/Q=="}},
		{"with two trailers", 70 << 10, 8 << 10, []string{"x-amz-checksum-crc32c:AAAAAA==", "x-amz-checksum-sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
		{"empty payload with a trailer", 0, 64 << 10, []string{"x-amz-checksum-crc32:AAAAAA=="}},
		{"one chunk of the 16 MiB maximum", 16 << 20, 16 << 20, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := payloadOf(c.size)
			in := refEncode(payload, c.chunkSize, agentKeys, c.trailers)
			out, err := io.ReadAll(NewChunkResigner(bytes.NewReader(in), agentKeys, upKeys))
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(in) {
				t.Errorf("length %d, want %d (Content-Length must not change)", len(out), len(in))
			}
			got, sigs, trailers, err := refDecode(out, upKeys)
			if err != nil {
				t.Fatalf("upstream chain does not verify: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Error("decoded payload differs")
			}
			if strings.Join(trailers, "|") != strings.Join(c.trailers, "|") {
				t.Errorf("trailers %q, want %q", trailers, c.trailers)
			}
			_, agentSigs, _, _ := refDecode(in, agentKeys)
			for i, s := range agentSigs {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("agent signature %d survives in the output", i)
				}
				if s == sigs[i] {
					t.Errorf("chunk %d: signature not replaced", i)
				}
			}
		})
	}
}

// The chunked upload example of the S3 documentation: 65 KiB of 'a' in
// 64 KiB chunks, with the chunk signatures AWS publishes.
var (
	docScope     = Scope{Date: "20130524", Region: "us-east-1", Service: "s3"}
	docChunkKeys = ChunkKeys{Key: SigningKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", docScope), Scope: docScope,
		Date: time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC), Seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"}
	docChunkedBody = []byte("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")
)

func TestChunkResignerAcceptsAWSDocumentationExample(t *testing.T) {
	if len(docChunkedBody) != 66824 {
		t.Fatalf("body is %d bytes, the example's Content-Length is 66824", len(docChunkedBody))
	}
	out, err := io.ReadAll(NewChunkResigner(bytes.NewReader(docChunkedBody), docChunkKeys, upKeys))
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _, err := refDecode(out, upKeys); err != nil || len(got) != 66560 {
		t.Fatalf("decoded %d bytes, %v", len(got), err)
	}
}

// A request signed by the agent end to end: Verify the seed, Sign
// upstream, re-sign the chunks from the new seed.
func TestChunkResignerFollowsSignSeed(t *testing.T) {
	payload := payloadOf(100 << 10)
	req, _ := http.NewRequest("PUT", "https://bucket.s3.us-east-1.amazonaws.com/chunked%20key", nil)
	req.Header.Set("X-Amz-Content-Sha256", StreamingSignedTrailer)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(payload)))
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	sdkSign(t, req, agentCreds, StreamingSignedTrailer, "us-east-1", "s3", t0)
	in := readRequest(t, wireText(t, req))
	a, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(in, a, agentCreds.SecretAccessKey, a.PayloadHash, t0); err != nil {
		t.Fatal(err)
	}
	agent := ChunkKeys{Key: SigningKey(agentCreds.SecretAccessKey, a.Scope), Scope: a.Scope, Date: a.Date, Seed: a.Signature}
	body := refEncode(payload, 64<<10, agent, []string{"x-amz-checksum-crc32:AAAAAA=="})

	out := outbound(in)
	Strip(out)
	at := t0.Add(time.Second)
	seed, err := Sign(context.Background(), out, upstreamCreds, a.PayloadHash, "us-east-1", "s3", at)
	if err != nil {
		t.Fatal(err)
	}
	upScope := Scope{Date: at.Format("20060102"), Region: "us-east-1", Service: "s3"}
	up := ChunkKeys{Key: SigningKey(upstreamCreds.SecretAccessKey, upScope), Scope: upScope, Date: at, Seed: seed}
	resigned, err := io.ReadAll(NewChunkResigner(bytes.NewReader(body), agent, up))
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _, err := refDecode(resigned, up); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("upstream chain: %v", err)
	}
}

// A bad chunk stops the stream before any byte of it is emitted; the
// chunks before it went out re-signed.
func TestChunkResignerRefusesBeforeEmittingBadChunk(t *testing.T) {
	payload := payloadOf(3 * 1000)
	good := refEncode(payload, 1000, agentKeys, nil)
	goodTrailer := refEncode(payload, 1000, agentKeys, []string{"x-amz-checksum-crc32:AAAAAA=="})
	resignedGood, _ := io.ReadAll(NewChunkResigner(bytes.NewReader(good), agentKeys, upKeys))
	resignedTrailer, _ := io.ReadAll(NewChunkResigner(bytes.NewReader(goodTrailer), agentKeys, upKeys))
	chunkLen := len("3e8;chunk-signature=") + 64 + 2 + 1000 + 2
	finalAt := 3 * chunkLen

	edit := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	cases := []struct {
		name    string
		body    []byte
		want    string
		emitted []byte // exactly what may come out before the error
	}{
		{"byte flipped in the second chunk", edit(good, func(b []byte) []byte { b[chunkLen+100] ^= 1; return b }), "SignatureDoesNotMatch", resignedGood[:chunkLen]},
		{"byte flipped in the first chunk", edit(good, func(b []byte) []byte { b[90] ^= 1; return b }), "SignatureDoesNotMatch", nil},
		{"signature of the third chunk changed", edit(good, func(b []byte) []byte { b[2*chunkLen+25] ^= 1; return b }), "SignatureDoesNotMatch", resignedGood[:2*chunkLen]},
		{"final chunk signature changed", edit(good, func(b []byte) []byte { b[finalAt+25] ^= 1; return b }), "SignatureDoesNotMatch", resignedGood[:finalAt]},
		{"chunks reordered", append(append(append([]byte{}, good[chunkLen:2*chunkLen]...), good[:chunkLen]...), good[2*chunkLen:]...), "SignatureDoesNotMatch", nil},
		{"trailer value changed", bytes.Replace(goodTrailer, []byte("AAAAAA=="), []byte("AAAAAB=="), 1), "SignatureDoesNotMatch", resignedTrailer[:finalAt]},
		{"trailer added", bytes.Replace(goodTrailer, []byte("x-amz-checksum-crc32:"), []byte("x-amz-meta-x:1\r\nx-amz-checksum-crc32:"), 1), "SignatureDoesNotMatch", resignedTrailer[:finalAt]},
		{"truncated in a chunk", good[:chunkLen+500], "IncompleteBody", resignedGood[:chunkLen]},
		{"truncated before the final chunk", good[:finalAt], "IncompleteBody", resignedGood[:finalAt]},
		{"truncated before the last CRLF", good[:len(good)-2], "IncompleteBody", resignedGood[:finalAt]},
		{"data after the final chunk", append(bytes.Clone(good), "extra"...), "IncompleteBody", resignedGood[:finalAt]},
		{"missing CRLF after a chunk", edit(good, func(b []byte) []byte { b[chunkLen-2] = 'x'; return b }), "IncompleteBody", nil},
		{"chunk size not hex", edit(good, func(b []byte) []byte { b[0] = 'g'; return b }), "IncompleteBody", nil},
		{"extension other than chunk-signature", bytes.Replace(good, []byte(";chunk-signature="), []byte(";chunk-signaturf="), 1), "IncompleteBody", nil},
		{"short signature", []byte("3e8;chunk-signature=abc\r\n"), "IncompleteBody", nil},
		{"LF without CR", []byte("0;chunk-signature=" + strings.Repeat("0", 64) + "\n\r\n"), "IncompleteBody", nil},
		{"chunk over 16 MiB", []byte("1000001;chunk-signature=" + strings.Repeat("0", 64) + "\r\n"), "EntityTooLarge", nil},
		{"endless chunk header", bytes.Repeat([]byte("f"), 100<<10), "IncompleteBody", nil},
		{"empty body", nil, "IncompleteBody", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := io.Copy(&out, NewChunkResigner(bytes.NewReader(c.body), agentKeys, upKeys))
			var e *Error
			if !errors.As(err, &e) || e.Code != c.want {
				t.Fatalf("err = %v, want *Error %s", err, c.want)
			}
			if !bytes.Equal(out.Bytes(), c.emitted) {
				t.Errorf("emitted %d bytes before the error, want exactly %d (the verified chunks)", out.Len(), len(c.emitted))
			}
		})
	}
}

// agentStream produces an aws-chunked body of n bytes on the fly, so
// neither side of the test holds the whole body.
type agentStream struct {
	left    int
	chunk   []byte
	k       ChunkKeys
	prev    string
	pending []byte
	done    bool
}

func (s *agentStream) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		if s.done {
			return 0, io.EOF
		}
		n := min(len(s.chunk), s.left)
		s.left -= n
		s.prev = refChunkSig(s.k.Key, s.k.Date.UTC().Format("20060102T150405Z"), s.k.Scope.String(), s.prev, s.chunk[:n])
		s.pending = fmt.Appendf(s.pending[:0], "%x;chunk-signature=%s\r\n", n, s.prev)
		s.pending = append(s.pending, s.chunk[:n]...)
		s.pending = append(s.pending, "\r\n"...)
		s.done = n == 0
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// upstreamCheck verifies the re-signed stream chunk by chunk as it flows.
type upstreamCheck struct {
	k      ChunkKeys
	prev   string
	buf    []byte
	chunks int
	bytes  int
}

func (u *upstreamCheck) Write(p []byte) (int, error) {
	u.buf = append(u.buf, p...)
	for {
		i := bytes.Index(u.buf, []byte("\r\n"))
		if i < 0 {
			return len(p), nil
		}
		var size int
		var sig string
		if _, err := fmt.Sscanf(string(u.buf[:i]), "%x;chunk-signature=%s", &size, &sig); err != nil {
			return 0, err
		}
		if len(u.buf) < i+2+size+2 {
			return len(p), nil
		}
		data := u.buf[i+2 : i+2+size]
		if want := refChunkSig(u.k.Key, u.k.Date.UTC().Format("20060102T150405Z"), u.k.Scope.String(), u.prev, data); sig != want {
			return 0, fmt.Errorf("chunk %d: bad upstream signature", u.chunks)
		}
		u.prev, u.chunks, u.bytes = sig, u.chunks+1, u.bytes+size
		u.buf = append(u.buf[:0], u.buf[i+2+size+2:]...)
	}
}

func TestChunkResignerStreams100MiBInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB")
	}
	const total = 100 << 20
	src := &agentStream{left: total, chunk: payloadOf(64 << 10), k: agentKeys, prev: agentKeys.Seed}
	dst := &upstreamCheck{k: upKeys, prev: upKeys.Seed}
	r := NewChunkResigner(src, agentKeys, upKeys)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	buf := make([]byte, 32<<10)
	for i := 0; ; i++ {
		n, err := r.Read(buf)
		if _, werr := dst.Write(buf[:n]); werr != nil {
			t.Fatal(werr)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%512 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if dst.bytes != total {
		t.Fatalf("upstream got %d payload bytes, want %d", dst.bytes, total)
	}
	if growth := int64(peak) - int64(base); growth > 32<<20 {
		t.Errorf("heap grew by %d MiB while streaming 100 MiB", growth>>20)
	}
	t.Logf("%d chunks; heap in use grew at most %d KiB", dst.chunks, (int64(peak)-int64(base))>>10)
}

func TestChunkResignerTapGetsPayloadOnly(t *testing.T) {
	var tap bytes.Buffer
	out, err := io.ReadAll(NewChunkResignerTap(bytes.NewReader(docChunkedBody), docChunkKeys, upKeys, &tap))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 || tap.Len() != 66560 || bytes.Contains(tap.Bytes(), []byte("chunk-signature")) {
		t.Fatalf("tap has %d bytes (want the 66560 of payload, no framing)", tap.Len())
	}
	for _, b := range tap.Bytes() {
		if b != 'a' {
			t.Fatalf("tap byte %q is not payload", b)
		}
	}
}
