package intercept

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Hello is what the ClientHello says about where the agent wants to go.
type Hello struct {
	ServerName string   // SNI, lower case, as crypto/tls parsed it
	ALPN       []string // protocols offered, in the client's order
}

// Errors a peek can end with. They describe what the client sent; the caller
// refuses the connection and logs which one it was.
var (
	ErrNotTLS         = errors.New("not a TLS ClientHello")
	ErrNoSNI          = errors.New("ClientHello carries no server name (SNI)")
	ErrHelloTruncated = errors.New("ClientHello truncated")
	ErrHelloTimeout   = errors.New("no ClientHello before the deadline")
)

const (
	recordHeaderLen = 5
	// maxHelloBytes bounds what one client can make us buffer before it has
	// proven anything. Real hellos are under 2 KiB (about 1.8 KiB with a
	// post-quantum key share); 64 KiB leaves room for many extensions.
	maxHelloBytes = 64 << 10
	// maxRecordLen is TLSPlaintext's limit (RFC 8446 §5.1); a hello is
	// plaintext.
	maxRecordLen = 1 << 14
)

// PeekClientHello reads the client's ClientHello without consuming it: the
// returned conn replays every byte read, so a TLS server (or a splice to the
// upstream) sees the stream from its first byte. The hello is parsed by
// crypto/tls itself, never by hand. Every read is under timeout.
func PeekClientHello(conn net.Conn, timeout time.Duration) (*Hello, net.Conn, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, fmt.Errorf("set hello deadline: %w", err)
	}
	// Read exactly the hello's records and no further: nothing is buffered
	// past them, so the conn needs no read buffer for the rest of its life.
	raw, err := peekHandshake(conn)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("%w (%w)", ErrHelloTimeout, err)
		}
		return nil, nil, err
	}
	hello, err := parseHello(raw)
	if err != nil {
		return nil, nil, err
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, nil, fmt.Errorf("clear hello deadline: %w", err)
	}
	return hello, &peekedConn{Conn: conn, prefix: raw}, nil
}

// peekHandshake returns the raw TLS records that carry the first handshake
// message. The first record usually holds it all; a hello may span records.
// It keeps everything it read in the returned slice, which the caller
// replays.
func peekHandshake(r io.Reader) ([]byte, error) {
	var raw []byte     // records as read, headers included
	var payload []byte // handshake bytes, headers stripped
	for {
		hdr, err := readFull(r, recordHeaderLen)
		if err != nil {
			return nil, truncated(err, len(raw) == 0)
		}
		if hdr[0] != 0x16 { // handshake
			return nil, fmt.Errorf("%w: first byte %#02x", ErrNotTLS, hdr[0])
		}
		if hdr[1] != 3 {
			return nil, fmt.Errorf("%w: record version %#02x%02x", ErrNotTLS, hdr[1], hdr[2])
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > maxRecordLen {
			return nil, fmt.Errorf("%w: record length %d", ErrNotTLS, n)
		}
		if len(raw)+recordHeaderLen+n > maxHelloBytes {
			return nil, fmt.Errorf("%w: ClientHello over %d bytes", ErrNotTLS, maxHelloBytes)
		}
		body, err := readFull(r, n)
		if err != nil {
			return nil, truncated(err, false)
		}
		raw = append(append(raw, hdr...), body...)
		payload = append(payload, body...)
		if len(payload) >= 4 {
			if payload[0] != 0x01 { // client_hello
				return nil, fmt.Errorf("%w: handshake type %d", ErrNotTLS, payload[0])
			}
			msgLen := int(payload[1])<<16 | int(payload[2])<<8 | int(payload[3])
			if 4+msgLen > maxHelloBytes {
				return nil, fmt.Errorf("%w: ClientHello of %d bytes", ErrNotTLS, msgLen)
			}
			if len(payload) >= 4+msgLen {
				return raw, nil
			}
		}
	}
}

func readFull(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func truncated(err error, nothingRead bool) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if nothingRead {
			return fmt.Errorf("%w: connection closed before any byte", ErrHelloTruncated)
		}
		return ErrHelloTruncated
	}
	return fmt.Errorf("read ClientHello: %w", err)
}

// errHelloParsed stops crypto/tls once it has parsed the hello.
var errHelloParsed = errors.New("hello parsed")

// parseHello lets crypto/tls parse the hello: it runs a server handshake over
// a read-only conn holding raw and stops it in GetConfigForClient.
func parseHello(raw []byte) (*Hello, error) {
	var hello *Hello
	err := tls.Server(readOnlyConn{bytes.NewReader(raw)}, &tls.Config{
		GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			hello = &Hello{ServerName: chi.ServerName, ALPN: append([]string(nil), chi.SupportedProtos...)}
			return nil, errHelloParsed
		},
	}).Handshake()
	if hello == nil {
		return nil, fmt.Errorf("%w: %v", ErrNotTLS, err)
	}
	if hello.ServerName == "" {
		return nil, ErrNoSNI
	}
	return hello, nil
}

// readOnlyConn feeds bytes to crypto/tls and swallows what it writes (the
// alert it sends when GetConfigForClient fails).
type readOnlyConn struct{ r io.Reader }

func (c readOnlyConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (readOnlyConn) Write(p []byte) (int, error)        { return len(p), nil }
func (readOnlyConn) Close() error                       { return nil }
func (readOnlyConn) LocalAddr() net.Addr                { return nil }
func (readOnlyConn) RemoteAddr() net.Addr               { return nil }
func (readOnlyConn) SetDeadline(t time.Time) error      { return nil }
func (readOnlyConn) SetReadDeadline(t time.Time) error  { return nil }
func (readOnlyConn) SetWriteDeadline(t time.Time) error { return nil }

// peekedConn replays the bytes the peek read, then reads on.
type peekedConn struct {
	net.Conn
	prefix []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		if len(c.prefix) == 0 {
			c.prefix = nil // let the hello's bytes be collected
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets a splice half-close like the TCP conn underneath.
func (c *peekedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
