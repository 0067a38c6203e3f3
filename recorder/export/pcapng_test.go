package export

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/gatehouse/gatehouse/recorder"
)

func writePCAPNG(t *testing.T, recs []*recorder.Record) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := PCAPNG(&b, recs, "v0.4.0-test"); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tcpSegment is one segment read back from the file.
type tcpSegment struct {
	ts       time.Time
	src, dst netip.AddrPort
	tcp      *layers.TCP
}

// tcpStream is one direction of a connection, reassembled.
type tcpStream struct {
	segs    []tcpSegment
	payload []byte
	// at is the time of the segment that carries each payload offset's
	// first byte, for the offsets a segment starts at.
	at map[int]time.Time
}

// readPCAPNG reads the file back with gopacket and reassembles each
// connection's two directions, checking sequence and acknowledgment
// numbers on the way: each segment starts where the last one of its
// direction ended, and acknowledges everything the other side has sent.
func readPCAPNG(t *testing.T, file []byte) (conns map[[2]netip.AddrPort][2]*tcpStream, order [][2]netip.AddrPort) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v", r.LinkType())
	}
	if app := r.SectionInfo().Application; app != "gatehouse v0.4.0-test" {
		t.Errorf("section application %q", app)
	}
	conns = map[[2]netip.AddrPort][2]*tcpStream{}
	next := map[netip.AddrPort]uint32{} // by sender
	var last time.Time
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.Timestamp.Before(last) {
			t.Errorf("packet at %v after one at %v", ci.Timestamp, last)
		}
		last = ci.Timestamp
		p := gopacket.NewPacket(data, layers.LinkTypeRaw, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("packet does not decode: %v", el.Error())
		}
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			t.Fatalf("not TCP: %v", p)
		}
		src, _ := netip.AddrFromSlice(p.NetworkLayer().NetworkFlow().Src().Raw())
		dst, _ := netip.AddrFromSlice(p.NetworkLayer().NetworkFlow().Dst().Raw())
		s := tcpSegment{ci.Timestamp, netip.AddrPortFrom(src, uint16(tcp.SrcPort)), netip.AddrPortFrom(dst, uint16(tcp.DstPort)), tcp}
		client, server, fromClient := s.src, s.dst, true
		if tcp.SrcPort == serverPort {
			client, server, fromClient = s.dst, s.src, false
		}
		key := [2]netip.AddrPort{client, server}
		c, ok := conns[key]
		if !ok {
			if !tcp.SYN || tcp.ACK || !fromClient {
				t.Fatalf("connection %v starts with %s", key, tcpFlags(tcp))
			}
			c = [2]*tcpStream{{at: map[int]time.Time{}}, {at: map[int]time.Time{}}}
			conns[key] = c
			order = append(order, key)
			next[s.src] = tcp.Seq
		}
		dir := c[0]
		if !fromClient {
			dir = c[1]
			if tcp.SYN {
				next[s.src] = tcp.Seq
			}
		}
		if tcp.Seq != next[s.src] {
			t.Errorf("%v → %v %s: seq %d, want %d", s.src, s.dst, tcpFlags(tcp), tcp.Seq, next[s.src])
		}
		if tcp.ACK && tcp.Ack != next[s.dst] {
			t.Errorf("%v → %v %s: ack %d, want %d", s.src, s.dst, tcpFlags(tcp), tcp.Ack, next[s.dst])
		}
		next[s.src] += uint32(len(tcp.Payload))
		if tcp.SYN || tcp.FIN {
			next[s.src]++
		}
		if len(tcp.Payload) > 0 {
			dir.at[len(dir.payload)] = s.ts
		}
		dir.payload = append(dir.payload, tcp.Payload...)
		dir.segs = append(dir.segs, s)
	}
	return conns, order
}

func tcpFlags(tcp *layers.TCP) string {
	var f []string
	for _, x := range []struct {
		set  bool
		name string
	}{{tcp.SYN, "SYN"}, {tcp.ACK, "ACK"}, {tcp.PSH, "PSH"}, {tcp.FIN, "FIN"}, {tcp.RST, "RST"}} {
		if x.set {
			f = append(f, x.name)
		}
	}
	return strings.Join(f, "|")
}

// TestPCAPNGStreams reads the file back without any tool: one TCP
// connection per session, a handshake and a FIN, and streams that
// net/http parses into the recorded calls.
func TestPCAPNGStreams(t *testing.T) {
	recs := testRecords()
	conns, order := readPCAPNG(t, writePCAPNG(t, recs))

	bySession := map[string][]*recorder.Record{}
	var sessions []string
	for _, r := range recs {
		if bySession[r.Session] == nil {
			sessions = append(sessions, r.Session)
		}
		bySession[r.Session] = append(bySession[r.Session], r)
	}
	if len(conns) != len(sessions) {
		t.Fatalf("%d connections, want one per session (%d)", len(conns), len(sessions))
	}
	endpoints := map[string][2]netip.AddrPort{}
	for _, key := range order {
		c := conns[key]
		// The first packet of each connection is its SYN, at the session's
		// first Start; match the connection to its session by that time.
		var s string
		for _, id := range sessions {
			if bySession[id][0].Start.Equal(c[0].segs[0].ts) {
				s = id
			}
		}
		if s == "" {
			t.Fatalf("connection %v starts at %v, no session does", key, c[0].segs[0].ts)
		}
		endpoints[s] = key
		t.Run(s, func(t *testing.T) { checkSession(t, bySession[s], c) })
	}

	t.Run("addresses", func(t *testing.T) {
		if got := endpoints["s-alice"]; got[0].String() != "10.77.1.2:40112" || got[1].String() != "10.77.2.2:443" {
			t.Errorf("alice's connection %v, want her source address to the original destination", got)
		}
		if got := endpoints["s-bob"]; !got[0].Addr().Is4() || got[0].Addr().As4()[0] != 10 || got[1].Port() != 443 {
			t.Errorf("bob's connection %v, want a synthetic 10.x client (his source address is not ip:port)", got)
		}
		if again, _ := readPCAPNG(t, writePCAPNG(t, recs)); again[endpoints["s-bob"]][0] == nil {
			t.Error("a synthetic address is not stable from one export to the next")
		}
	})
}

// checkSession parses one connection's streams as the session's calls.
func checkSession(t *testing.T, recs []*recorder.Record, c [2]*tcpStream) {
	up, down := c[0], c[1]
	if f := tcpFlags(up.segs[0].tcp); f != "SYN" {
		t.Errorf("first segment %s", f)
	}
	if f := tcpFlags(down.segs[0].tcp); f != "SYN|ACK" {
		t.Errorf("server's first segment %s", f)
	}
	if f := tcpFlags(up.segs[len(up.segs)-2].tcp); f != "ACK|FIN" {
		t.Errorf("client's last but one segment %s, want its FIN", f)
	}
	if f := tcpFlags(down.segs[len(down.segs)-1].tcp); f != "ACK|FIN" {
		t.Errorf("server's last segment %s, want its FIN", f)
	}
	for _, s := range append(slices.Clone(up.segs), down.segs...) {
		if n := len(s.tcp.Payload); n > 1460 {
			t.Errorf("segment of %d bytes, more than an MSS", n)
		}
	}

	reqs, resps := newStreamReader(up.payload), newStreamReader(down.payload)
	for _, r := range recs {
		if !hasRequest(r) {
			continue
		}
		if ts := up.at[reqs.offset()]; !ts.Equal(r.Start) {
			t.Errorf("%s: request sent at %v, want its Start %v", r.ID, ts, r.Start)
		}
		req, err := http.ReadRequest(reqs.Reader)
		if err != nil {
			t.Fatalf("%s: request does not parse: %v", r.ID, err)
		}
		if req.Method != r.Method || req.RequestURI != requestTarget(r) || req.Host != r.Host || req.Proto != "HTTP/1.1" {
			t.Errorf("%s: %s %s %s Host %s", r.ID, req.Method, req.RequestURI, req.Proto, req.Host)
		}
		got, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("%s: request body: %v", r.ID, err)
		}
		checkBody(t, r.ID+" request", req.Header, got, r.Request)

		if !hasResponse(r) {
			continue
		}
		if ts := down.at[resps.offset()]; !ts.Equal(r.UpstreamFirstByte) && !(r.UpstreamFirstByte.IsZero() && ts.Equal(r.End)) {
			t.Errorf("%s: response sent at %v, want its first byte's time %v", r.ID, ts, r.UpstreamFirstByte)
		}
		resp, err := http.ReadResponse(resps.Reader, req)
		if err != nil {
			t.Fatalf("%s: response does not parse: %v", r.ID, err)
		}
		got, err = io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: response body: %v", r.ID, err)
		}
		if resp.StatusCode != r.Status {
			t.Errorf("%s: status %d, want %d", r.ID, resp.StatusCode, r.Status)
		}
		if r.Method == http.MethodHead {
			if resp.ContentLength != 3000 || len(got) != 0 {
				t.Errorf("%s: HEAD response Content-Length %d, body %d bytes; want the recorded 3000 and none", r.ID, resp.ContentLength, len(got))
			}
			continue
		}
		checkBody(t, r.ID+" response", resp.Header, got, r.Response)
	}
	// Nothing is left over: in particular no response to a call that never
	// completed.
	if n := len(up.payload) - reqs.offset(); n != 0 {
		t.Errorf("%d bytes left in the client's stream", n)
	}
	if n := len(down.payload) - resps.offset(); n != 0 {
		t.Errorf("%d bytes left in the server's stream", n)
	}
}

// streamReader reads a stream and knows at what offset it is.
type streamReader struct {
	*bufio.Reader
	src *countingReader
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func newStreamReader(p []byte) streamReader {
	c := &countingReader{r: bytes.NewReader(p)}
	return streamReader{bufio.NewReader(c), c}
}

// offset is where in the stream the next read starts.
func (r streamReader) offset() int { return r.src.n - r.Buffered() }

func checkBody(t *testing.T, what string, h http.Header, got []byte, b recorder.Body) {
	t.Helper()
	if !bytes.Equal(got, b.Data) {
		t.Errorf("%s: body of %d bytes, want the %d recorded", what, len(got), len(b.Data))
	}
	tr := h.Get("X-Gatehouse-Truncated")
	if isTruncated(b) {
		if want := fmt.Sprintf("%d bytes, sha256 %s", b.Size, b.SHA256); tr != want {
			t.Errorf("%s: X-Gatehouse-Truncated %q, want %q", what, tr, want)
		}
	} else if tr != "" {
		t.Errorf("%s: X-Gatehouse-Truncated %q on a whole body", what, tr)
	}
	if len(got) > 0 && h.Get("Content-Length") != strconv.Itoa(len(got)) {
		t.Errorf("%s: Content-Length %q for %d bytes", what, h.Get("Content-Length"), len(got))
	}
	if h.Get("Transfer-Encoding") != "" {
		t.Errorf("%s: Transfer-Encoding %q", what, h.Get("Transfer-Encoding"))
	}
}

// TestPCAPNGTshark has Wireshark's own dissectors read the file, with no
// setting: every request and response is HTTP, and TCP analysis finds no
// retransmission, lost segment or bad acknowledgment. The one warning
// expected is http.tls_port, plaintext HTTP on 443 (see serverPort).
func TestPCAPNGTshark(t *testing.T) {
	_, err := exec.LookPath("tshark")
	requireTool(t, "tshark", err == nil)
	recs := testRecords()
	f := filepath.Join(t.TempDir(), "calls.pcapng")
	if err := os.WriteFile(f, writePCAPNG(t, recs), 0o644); err != nil {
		t.Fatal(err)
	}
	tshark := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command("tshark", append([]string{"-r", f}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user preferences
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %v: %v\n%s", args, err, stderr.Bytes())
		}
		return strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' })
	}

	var wantReqs, wantResps []string
	for _, r := range recs {
		if !hasRequest(r) {
			continue
		}
		wantReqs = append(wantReqs, r.Method+"\t"+requestTarget(r)+"\t"+r.Host)
		if hasResponse(r) {
			wantResps = append(wantResps, strconv.Itoa(r.Status))
		}
	}
	got := tshark("-Y", "http.request", "-T", "fields", "-e", "http.request.method", "-e", "http.request.uri", "-e", "http.host")
	if !sameLines(got, wantReqs) {
		t.Errorf("tshark's requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantReqs, "\n"))
	}
	got = tshark("-Y", "http.response", "-T", "fields", "-e", "http.response.code")
	if !sameLines(got, wantResps) {
		t.Errorf("tshark's responses: %v, want %v", got, wantResps)
	}
	if got := tshark("-Y", "tcp.analysis.flags || _ws.malformed || (_ws.expert.severity >= warning && !http.tls_port)"); len(got) > 0 {
		t.Errorf("tshark's TCP analysis or expert info flags:\n%s", strings.Join(got, "\n"))
	}
	if got := tshark("-Y", `http.request.method == "PUT" && http.content_length == 2048`, "-T", "fields", "-e", "http.request.uri"); len(got) != 1 {
		t.Errorf("the capped upload is not one request with its 2048 recorded bytes: %v", got)
	}
}

// sameSet reports whether a and b hold the same lines, in any order
// (sessions interleave in the file).
func sameLines(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestPCAPNGNilRecord(t *testing.T) {
	if err := PCAPNG(&bytes.Buffer{}, []*recorder.Record{nil}, "v"); err == nil {
		t.Error("PCAPNG accepted a nil record")
	}
}

// TestPCAPNGIPv6 keeps an IPv6 client's address, with a synthetic IPv6
// server when the original destination is unknown.
func TestPCAPNGIPv6(t *testing.T) {
	r := testRecords()[0]
	r.Identity.SourceAddr, r.Dst = "[2001:db8::5]:40000", ""
	conns, order := readPCAPNG(t, writePCAPNG(t, []*recorder.Record{r}))
	if len(order) != 1 || order[0][0].String() != "[2001:db8::5]:40000" || !order[0][1].Addr().Is6() || order[0][1].Port() != 443 {
		t.Fatalf("connections %v", order)
	}
	checkSession(t, []*recorder.Record{r}, conns[order[0]])
}

// FuzzPCAPNGStream: whatever a record holds, each call stays one parseable
// request and response; a header or method cannot split or end a message.
func FuzzPCAPNGStream(f *testing.F) {
	f.Add("GET", "/bucket/key?x=1", "X-Amz-Meta-A", "v", []byte("body"), false)
	f.Add("PUT", "/k", "X-Evil", "a\r\n\r\nGET /smuggled HTTP/1.1", []byte{0, 1, 2}, true)
	f.Add("GE T\r\n", "/a b", "Bad: Name", "\x00\x7f", []byte(nil), false)
	f.Fuzz(func(t *testing.T, method, path, name, value string, data []byte, capped bool) {
		if method == "" {
			return // not a call
		}
		r := testRecords()[0]
		r.Method, r.Path = method, path
		if _, err := url.ParseRequestURI(requestTarget(r)); err != nil {
			return // a path no server could have read
		}
		r.Request = wholeBody(map[string][]string{name: {value}}, data)
		if capped && len(data) > 0 {
			r.Request = cappedBody(r.Request.Headers, append(data, "more"...), len(data))
		}
		r.Response = wholeBody(map[string][]string{name: {value}}, data)
		conns, order := readPCAPNG(t, writePCAPNG(t, []*recorder.Record{r, r}))
		c := conns[order[0]]
		reqs, resps := newStreamReader(c[0].payload), newStreamReader(c[1].payload)
		for range 2 {
			req, err := http.ReadRequest(reqs.Reader)
			if err != nil {
				t.Fatalf("request does not parse: %v\n%q", err, c[0].payload)
			}
			if got, err := io.ReadAll(req.Body); err != nil || !bytes.Equal(got, r.Request.Data) {
				t.Fatalf("request body %q (%v), want %q", got, err, r.Request.Data)
			}
			resp, err := http.ReadResponse(resps.Reader, req)
			if err != nil {
				t.Fatalf("response does not parse: %v\n%q", err, c[1].payload)
			}
			if got, err := io.ReadAll(resp.Body); err != nil || req.Method != http.MethodHead && !bytes.Equal(got, r.Response.Data) {
				t.Fatalf("response body %q (%v), want %q", got, err, r.Response.Data)
			}
		}
		if reqs.offset() != len(c[0].payload) || resps.offset() != len(c[1].payload) {
			t.Fatalf("bytes left over: %q / %q", c[0].payload[reqs.offset():], c[1].payload[resps.offset():])
		}
	})
}
