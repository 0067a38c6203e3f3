package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ChunkKeys is one side of an aws-chunked signature chain: the signing key
// and scope of the request's seed signature, its X-Amz-Date, and the seed
// (the signature of the request itself).
type ChunkKeys struct {
	Key   []byte
	Scope Scope
	Date  time.Time
	Seed  string
}

const (
	maxChunk       = 16 << 20 // what S3 and MinIO accept
	maxChunkLine   = 4 << 10
	maxTrailers    = 16 << 10 // all trailer lines together
	chunkSigPrefix = ";chunk-signature="
	trailerSigName = "x-amz-trailer-signature:"
	emptySHA256    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// NewChunkResigner reads an agent's aws-chunked body signed chunk by chunk
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with or without -TRAILER), checks
// every chunk signature along the agent's chain, and emits the same framing
// with each signature replaced by the upstream chain's. Signatures are 64
// hex characters on both sides, so Content-Length and
// x-amz-decoded-content-length do not change.
//
// A chunk is held in memory until its signature has been checked (at most
// 16 MiB; larger chunks are refused), and its bytes are emitted only after.
// The final chunk and trailers are emitted only once the trailer signature
// has been checked and the body has ended. A bad signature makes Read
// return an *Error with SignatureDoesNotMatch, bad framing or an early end
// IncompleteBody, before any byte of the offending chunk: an upstream never
// receives a complete body that was not verified.
func NewChunkResigner(agentBody io.Reader, agent, upstream ChunkKeys) io.Reader {
	return NewChunkResignerTap(agentBody, agent, upstream, nil)
}

// NewChunkResignerTap is NewChunkResigner that also writes each chunk's
// payload, once verified, to payload: the body without its framing and
// signatures, for a record of what was sent. Errors writing to payload are
// ignored; it must not block.
func NewChunkResignerTap(agentBody io.Reader, agent, upstream ChunkKeys, payload io.Writer) io.Reader {
	return &chunkResigner{
		src:     bufio.NewReaderSize(agentBody, 64<<10),
		agent:   newChain(agent),
		up:      newChain(upstream),
		payload: payload,
	}
}

// chain is one running signature chain.
type chain struct {
	key   []byte
	date  string
	scope string
	prev  string
}

func newChain(k ChunkKeys) chain {
	return chain{key: k.Key, date: k.Date.UTC().Format(amzDateFormat), scope: k.Scope.String(), prev: strings.ToLower(k.Seed)}
}

// chunk is the signature of a chunk whose payload hashes to sum.
func (c *chain) chunk(sum []byte) []byte {
	return hmacSHA256(c.key, "AWS4-HMAC-SHA256-PAYLOAD\n"+c.date+"\n"+c.scope+"\n"+c.prev+"\n"+emptySHA256+"\n"+hex.EncodeToString(sum))
}

// trailer is the signature of trailers whose canonical form hashes to sum.
func (c *chain) trailer(sum []byte) []byte {
	return hmacSHA256(c.key, "AWS4-HMAC-SHA256-TRAILER\n"+c.date+"\n"+c.scope+"\n"+c.prev+"\n"+hex.EncodeToString(sum))
}

type chunkResigner struct {
	src       *bufio.Reader
	agent, up chain
	data      []byte    // the current chunk's payload, reused
	out       [][]byte  // verified bytes not yet read: header, payload, tail
	err       error     // sticky; io.EOF once the final chunk is out
	hdr, tail []byte    // backing for out
	payload   io.Writer // verified payload, for the record; nil none
}

func (c *chunkResigner) Read(p []byte) (int, error) {
	for {
		for len(c.out) > 0 && len(c.out[0]) == 0 {
			c.out = c.out[1:]
		}
		if len(c.out) > 0 {
			n := copy(p, c.out[0])
			c.out[0] = c.out[0][n:]
			return n, nil
		}
		if c.err != nil {
			return 0, c.err
		}
		c.err = c.next()
	}
}

// next reads and verifies one chunk (with the trailers, for the final one)
// and queues its re-signed bytes. It queues nothing when it fails.
func (c *chunkResigner) next() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	size, sig, err := parseChunkLine(line)
	if err != nil {
		return err
	}
	// line belongs to the bufio.Reader: keep it before reading on. The
	// agent's signature (the last 64 bytes before CRLF) is replaced below.
	c.hdr = append(c.hdr[:0], line...)
	if cap(c.data) < size {
		c.data = make([]byte, size)
	}
	c.data = c.data[:size]
	if _, err := io.ReadFull(c.src, c.data); err != nil {
		return readErr(err)
	}
	sum := sha256.Sum256(c.data)
	if !hmac.Equal(sig, c.agent.chunk(sum[:])) {
		return chunkSignatureMismatch()
	}
	c.agent.prev = hex.EncodeToString(sig)
	if c.payload != nil && size > 0 {
		_, _ = c.payload.Write(c.data)
	}
	upSig := hex.EncodeToString(c.up.chunk(sum[:]))
	c.up.prev = upSig
	copy(c.hdr[len(c.hdr)-2-len(upSig):], upSig)

	if size > 0 {
		if err := c.expectCRLF(); err != nil {
			return err
		}
		c.out = append(c.out[:0], c.hdr, c.data, []byte("\r\n"))
		return nil
	}

	// The final chunk: "\r\n" and the end, or trailers and their signature.
	c.tail = c.tail[:0]
	if b, err := c.src.Peek(2); err == nil && string(b) == "\r\n" {
		c.src.Discard(2)
		c.tail = append(c.tail, "\r\n"...)
	} else if err := c.trailers(); err != nil {
		return err
	}
	if _, err := c.src.Peek(1); err != io.EOF {
		if err != nil {
			return readErr(err)
		}
		return incompleteBody("The aws-chunked body continues after its final chunk.")
	}
	c.out = append(c.out[:0], c.hdr, c.tail)
	return io.EOF
}

// trailers reads "name:value\r\n" lines up to x-amz-trailer-signature and
// the blank line after it, checks the trailer signature and queues the
// lines with the upstream one into c.tail.
func (c *chunkResigner) trailers() error {
	var canon []string
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if len(c.tail)+len(line) > maxTrailers {
			return incompleteBody("The aws-chunked trailers are too long.")
		}
		text := string(line[:len(line)-2])
		if sigHex, ok := strings.CutPrefix(text, trailerSigName); ok {
			sig, err := decodeSig(sigHex)
			if err != nil {
				return err
			}
			if err := c.expectCRLF(); err != nil {
				return err
			}
			slices.Sort(canon)
			sum := sha256.Sum256([]byte(strings.Join(canon, "")))
			if !hmac.Equal(sig, c.agent.trailer(sum[:])) {
				return chunkSignatureMismatch()
			}
			upSig := hex.EncodeToString(c.up.trailer(sum[:]))
			c.tail = append(append(append(c.tail, trailerSigName...), upSig...), "\r\n\r\n"...)
			return nil
		}
		name, value, ok := strings.Cut(text, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || !isLowerToken(name) {
			return incompleteBody("An aws-chunked trailer is malformed.")
		}
		// Canonical trailers, as the SDKs sign them: "name:value\n",
		// names in lower case, sorted.
		canon = append(canon, name+":"+strings.TrimSpace(value)+"\n")
		c.tail = append(c.tail, line...)
	}
}

// readLine returns one line with its "\r\n", valid until the next read.
func (c *chunkResigner) readLine() ([]byte, error) {
	line, err := c.src.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return nil, incompleteBody("An aws-chunked line is too long.")
	}
	if err != nil {
		return nil, readErr(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, incompleteBody("An aws-chunked line does not end in CRLF.")
	}
	return line, nil
}

// expectCRLF consumes the CRLF that ends a chunk's payload or the body.
func (c *chunkResigner) expectCRLF() error {
	var b [2]byte
	if _, err := io.ReadFull(c.src, b[:]); err != nil {
		return readErr(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return incompleteBody("An aws-chunked chunk is not followed by CRLF.")
	}
	return nil
}

// parseChunkLine reads "<hex size>;chunk-signature=<64 hex>\r\n".
func parseChunkLine(line []byte) (int, []byte, error) {
	sizeHex, rest, ok := bytes.Cut(line[:len(line)-2], []byte(chunkSigPrefix))
	if !ok || len(sizeHex) == 0 || len(sizeHex) > 16 {
		return 0, nil, incompleteBody("An aws-chunked chunk header is malformed.")
	}
	var size uint64
	for _, b := range sizeHex {
		var d byte
		switch {
		case b >= '0' && b <= '9':
			d = b - '0'
		case b >= 'a' && b <= 'f':
			d = b - 'a' + 10
		case b >= 'A' && b <= 'F':
			d = b - 'A' + 10
		default:
			return 0, nil, incompleteBody("An aws-chunked chunk size is not hexadecimal.")
		}
		size = size<<4 | uint64(d)
		if size > maxChunk {
			return 0, nil, entityTooLarge("An aws-chunked chunk is larger than 16 MiB.")
		}
	}
	sig, err := decodeSig(string(rest))
	return int(size), sig, err
}

func decodeSig(s string) ([]byte, error) {
	if !isHexSignature(s) {
		return nil, incompleteBody("An aws-chunked signature is malformed.")
	}
	b, _ := hex.DecodeString(s)
	return b, nil
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return incompleteBody("The request body terminated unexpectedly.")
	}
	return fmt.Errorf("sigv4: read aws-chunked body: %w", err)
}
