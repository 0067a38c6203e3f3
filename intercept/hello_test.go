package intercept

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// clientHello returns the bytes a real crypto/tls client sends first.
func clientHello(t testing.TB, conf *tls.Config) []byte {
	t.Helper()
	c1, c2 := net.Pipe()
	go func() {
		_ = tls.Client(c1, conf).Handshake()
	}()
	defer c1.Close()
	defer c2.Close()
	buf := make([]byte, 64<<10)
	_ = c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c2.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestPeekClientHelloReadsSNIAndALPNWithoutConsuming(t *testing.T) {
	ca := newTestCA(t, "agent-ca")
	srvCert := ca.leaf(t, "s3.amazonaws.com")
	c1, c2 := net.Pipe()
	done := make(chan error, 1)
	go func() {
		tc := tls.Client(c1, &tls.Config{ServerName: "s3.amazonaws.com", RootCAs: ca.pool, NextProtos: []string{"h2", "http/1.1"}})
		err := tc.Handshake()
		if err == nil {
			_, err = tc.Write([]byte("ping"))
		}
		done <- err
	}()
	hello, pc, err := PeekClientHello(c2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if hello.ServerName != "s3.amazonaws.com" {
		t.Errorf("SNI = %q", hello.ServerName)
	}
	if len(hello.ALPN) != 2 || hello.ALPN[0] != "h2" {
		t.Errorf("ALPN = %v", hello.ALPN)
	}
	// The peeked conn still completes a real handshake: nothing was consumed.
	ts := tls.Server(pc, &tls.Config{Certificates: []tls.Certificate{*srvCert}})
	buf := make([]byte, 4)
	if _, err := io.ReadFull(ts, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read after peek: %q %v", buf, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPeekClientHelloRefusesBadInput(t *testing.T) {
	realHello := clientHello(t, &tls.Config{ServerName: "sts.amazonaws.com", InsecureSkipVerify: true})
	noSNI := clientHello(t, &tls.Config{InsecureSkipVerify: true})
	tests := []struct {
		name  string
		input []byte
		close bool // client closes after sending
		want  error
	}{
		{"plain HTTP on 443", []byte("GET / HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n"), true, ErrNotTLS},
		{"no SNI", noSNI, false, ErrNoSNI},
		{"truncated ClientHello", realHello[:len(realHello)/2], true, ErrHelloTruncated},
		{"only a record header", realHello[:5], true, ErrHelloTruncated},
		{"client sends nothing", nil, false, ErrHelloTimeout},
		{"closed at once", nil, true, ErrHelloTruncated},
		{"alert record", []byte{0x15, 3, 1, 0, 2, 2, 40}, true, ErrNotTLS},
		{"oversized record length", []byte{0x16, 3, 1, 0xff, 0xff}, true, ErrNotTLS},
		{"not a client hello", []byte{0x16, 3, 1, 0, 4, 2, 0, 0, 0}, true, ErrNotTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c1, c2 := tcpPair(t)
			defer c2.Close()
			go func() {
				if len(tt.input) > 0 {
					_, _ = c1.Write(tt.input)
				}
				if tt.close {
					c1.Close()
				}
			}()
			defer c1.Close()
			_, _, err := PeekClientHello(c2, 200*time.Millisecond)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// tcpPair is a connected pair of loopback TCP sockets, as the listener
// hands the peek. (net.Pipe refuses SetDeadline once the other end has
// closed, which TCP does not, so "closed at once" failed at random over a
// pipe.)
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if server, err = ln.Accept(); err != nil {
		client.Close()
		t.Fatal(err)
	}
	return client, server
}

func TestPeekClientHelloSpanningRecords(t *testing.T) {
	raw := clientHello(t, &tls.Config{ServerName: "dynamodb.us-east-1.amazonaws.com", InsecureSkipVerify: true})
	// Split the one handshake record into two records, as a client may.
	body := raw[5:]
	half := len(body) / 2
	var split []byte
	for _, part := range [][]byte{body[:half], body[half:]} {
		split = append(split, 0x16, 3, 1, byte(len(part)>>8), byte(len(part)))
		split = append(split, part...)
	}
	c1, c2 := net.Pipe()
	go func() { _, _ = c1.Write(split) }()
	defer c1.Close()
	hello, pc, err := PeekClientHello(c2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if hello.ServerName != "dynamodb.us-east-1.amazonaws.com" {
		t.Fatalf("SNI = %q", hello.ServerName)
	}
	got := make([]byte, len(split))
	if _, err := io.ReadFull(pc, got); err != nil || !bytes.Equal(got, split) {
		t.Fatalf("replay differs: %v", err)
	}
}

// FuzzPeekClientHello feeds arbitrary first bytes to the peek: it must never
// panic, and when it accepts input, it must replay exactly what it read.
// Seeds: real hellos (with and without SNI, ALPN), and the bad inputs above.
func FuzzPeekClientHello(f *testing.F) {
	for _, conf := range []*tls.Config{
		{ServerName: "s3.amazonaws.com", InsecureSkipVerify: true},
		{ServerName: "bucket.s3.us-east-1.amazonaws.com", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}},
		{InsecureSkipVerify: true},
		{ServerName: "sts.amazonaws.com", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12},
	} {
		f.Add(clientHello(f, conf))
	}
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0x16, 3, 1, 0xff, 0xff})
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	if seeds, _ := filepath.Glob("testdata/hello/*.bin"); len(seeds) > 0 {
		for _, p := range seeds {
			b, _ := os.ReadFile(p)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// An in-memory conn, not net.Pipe: no goroutines, so coverage is
		// deterministic and the fuzzer does not minimize forever.
		hello, pc, err := PeekClientHello(&memConn{r: bytes.NewReader(data)}, time.Second)
		if err != nil {
			return
		}
		if hello.ServerName == "" {
			t.Fatal("accepted a hello without SNI")
		}
		replayed, _ := io.ReadAll(pc)
		if !bytes.Equal(replayed, data) {
			t.Fatalf("replayed %d bytes, sent %d", len(replayed), len(data))
		}
	})
}

// memConn is a net.Conn reading from memory, then EOF.
type memConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *memConn) Read(p []byte) (int, error)      { return c.r.Read(p) }
func (c *memConn) SetReadDeadline(time.Time) error { return nil }
