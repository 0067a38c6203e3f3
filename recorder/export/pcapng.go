package export

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/gatehouse/gatehouse/recorder"
)

// serverPort is the synthesized server's port: 443, where the calls went.
// Wireshark (checked with 4.0) dissects plaintext HTTP on 443 with no
// "decode as", which a capture file could not carry anyway, and flags each
// message with the expert warning http.tls_port ("Unencrypted HTTP protocol
// detected over encrypted port"): here that is what the file is, the
// plaintext of TLS the gateway terminated.
const serverPort = 443

// PCAPNG writes the plaintext HTTP/1.1 of recs as synthesized TCP streams,
// for Wireshark and tshark: `tshark -r calls.pcapng -Y http.request`.
//
// Each Session is one TCP connection, from the client's recorded source
// address (or a stable synthetic 10.x address when it has none) to the
// original destination's address (or a synthetic 198.18.x one) on port 443,
// with a handshake, the calls in the order given, and a FIN. A request is
// sent at its Start, its response at UpstreamFirstByte, the last segment and
// the client's ACK at End. A call that never completed has its request
// only; a record with no HTTP request (a refused or spliced connection) has
// its handshake and FIN only.
//
// The HTTP is rebuilt from the record, not the bytes seen on the wire:
// HTTP/1.1 whatever the client spoke, a Host header from the record, the
// recorded headers (authentication already removed by the recorder), and
// the recorded body, de-chunked. Every message is framed by a Content-Length
// of the bytes actually written, so a session keeps parsing after a body
// the recorder capped: such a message carries
// `X-Gatehouse-Truncated: <size> bytes, sha256 <hex>` with the whole body's
// size and hash, and its recorded Content-Length and Transfer-Encoding are
// dropped.
func PCAPNG(w io.Writer, recs []*recorder.Record, creatorVersion string) error {
	var (
		flows   = map[string]*flow{}
		order   []*flow
		packets []segment
	)
	for i, r := range recs {
		if r == nil {
			return fmt.Errorf("synthesize packets of record %d: nil record", i)
		}
		f := flows[r.Session]
		if f == nil {
			f = newFlow(r)
			flows[r.Session] = f
			order = append(order, f)
		}
		f.add(r)
	}
	for _, f := range order {
		packets = append(packets, f.close()...)
	}
	// Sessions interleave in time; within one, times never go back (flow.at),
	// so a stable sort keeps each stream's segments in sequence order.
	slices.SortStableFunc(packets, func(a, b segment) int { return a.ts.Compare(b.ts) })

	ng, err := pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{
		Name:                "gatehouse",
		Description:         "HTTP calls recorded by Gatehouse, synthesized as TCP streams",
		LinkType:            layers.LinkTypeRaw,
		TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Application: strings.TrimSpace("gatehouse " + creatorVersion),
		Comment: "Synthesized from Gatehouse records, not captured: HTTP/1.1 rebuilt from each record " +
			"(authentication headers removed, bodies as recorded, capped ones marked X-Gatehouse-Truncated), " +
			"one TCP connection per session, the plaintext of the TLS the gateway terminated.",
	}})
	if err != nil {
		return fmt.Errorf("write pcapng header: %w", err)
	}
	buf := gopacket.NewSerializeBuffer()
	for _, p := range packets {
		data, err := p.serialize(buf)
		if err != nil {
			return fmt.Errorf("synthesize packet of session %s: %w", p.flow.session, err)
		}
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(data), Length: len(data)}
		if err := ng.WritePacket(ci, data); err != nil {
			return fmt.Errorf("write pcapng packet: %w", err)
		}
	}
	if err := ng.Flush(); err != nil {
		return fmt.Errorf("write pcapng: %w", err)
	}
	return nil
}

// flow is one session's TCP connection as it is being synthesized.
type flow struct {
	session        string
	client, server netip.AddrPort
	mss            int
	cseq, sseq     uint32 // next sequence number of each side
	t              time.Time
	opened         bool
	segments       []segment
}

// segment is one TCP segment; it is serialized only when written, so the
// export holds the synthesized headers but not a second copy of the bodies.
type segment struct {
	ts         time.Time
	flow       *flow
	fromClient bool
	seq, ack   uint32
	syn, fin   bool
	psh        bool
	payload    []byte
}

func newFlow(r *recorder.Record) *flow {
	h := fnv.New64a()
	h.Write([]byte(r.Session))
	sum := h.Sum64()
	f := &flow{
		session: r.Session,
		cseq:    uint32(sum),
		sseq:    uint32(sum >> 32),
		t:       time.Unix(0, 0).UTC(),
	}
	f.client, f.server = endpoints(r, sum)
	f.mss = 1460
	if f.client.Addr().Is6() {
		f.mss = 1440
	}
	return f
}

// endpoints are the connection's client and server: the recorded source
// address and original destination when they parse, synthetic addresses
// (stable for a session and a host) when they do not.
func endpoints(r *recorder.Record, sum uint64) (client, server netip.AddrPort) {
	client, err := netip.ParseAddrPort(r.Identity.SourceAddr)
	if err == nil {
		client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
	}
	if err != nil || !client.Addr().IsValid() || client.Port() == 0 {
		a := netip.AddrFrom4([4]byte{10, byte(sum >> 8), byte(sum >> 16), 1 + byte(sum>>24)%254})
		client = netip.AddrPortFrom(a, 49152+uint16(sum>>40)%16384)
	}
	var dst netip.Addr
	if ap, err := netip.ParseAddrPort(r.Dst); err == nil {
		dst = ap.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.Dst); err == nil {
		dst = a.Unmap()
	}
	if !dst.IsValid() || dst.Is4() != client.Addr().Is4() {
		h := fnv.New32a()
		h.Write([]byte(callHost(r)))
		s := h.Sum32()
		if client.Addr().Is4() {
			dst = netip.AddrFrom4([4]byte{198, 18 + byte(s)&1, byte(s >> 8), 1 + byte(s>>16)%254})
		} else {
			dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(s >> 24), 13: byte(s >> 16), 14: byte(s >> 8), 15: byte(s)})
		}
	}
	return client, netip.AddrPortFrom(dst, serverPort)
}

// at is t, or the flow's last time when t is unknown or earlier: segments
// of one stream never go back in time.
func (f *flow) at(t time.Time) time.Time {
	if t.After(f.t) {
		f.t = t
	}
	return f.t
}

func (f *flow) send(ts time.Time, fromClient bool, payload []byte, syn, fin bool) {
	s := segment{ts: ts, flow: f, fromClient: fromClient, syn: syn, fin: fin, payload: payload}
	if fromClient {
		s.seq, s.ack = f.cseq, f.sseq
		f.cseq += uint32(len(payload))
	} else {
		s.seq, s.ack = f.sseq, f.cseq
		f.sseq += uint32(len(payload))
	}
	if syn || fin {
		if fromClient {
			f.cseq++
		} else {
			f.sseq++
		}
	}
	f.segments = append(f.segments, s)
}

// data sends a message's head and body in segments of at most one MSS,
// the body from a segment of its own as a sender writing the two apart
// would (and so the segments can point into the record's data): the first
// segment at first, any other at last, the last one pushed.
func (f *flow) data(first, last time.Time, fromClient bool, head, body []byte) {
	ts := first
	for _, p := range [][]byte{head, body} {
		for len(p) > 0 {
			n := min(len(p), f.mss)
			f.send(ts, fromClient, p[:n], false, false)
			ts = last
			p = p[n:]
		}
	}
	f.segments[len(f.segments)-1].psh = true
}

func (f *flow) open(t time.Time) {
	if f.opened {
		return
	}
	f.opened = true
	t = f.at(t)
	f.send(t, true, nil, true, false)
	f.send(t, false, nil, true, false)
	f.send(t, true, nil, false, false)
}

func (f *flow) add(r *recorder.Record) {
	f.open(r.Start)
	if !hasRequest(r) {
		f.at(r.End)
		return
	}
	start := f.at(r.Start)
	f.data(start, start, true, requestHead(r), r.Request.Data)
	if !hasResponse(r) {
		f.send(start, false, nil, false, false)
		f.at(r.End)
		return
	}
	// A response the gateway made itself (a refusal) has no upstream
	// first byte: it is sent whole at End.
	firstByte := r.UpstreamFirstByte
	if firstByte.IsZero() {
		firstByte = r.End
	}
	firstByte = f.at(firstByte)
	end := f.at(r.End)
	head, body := responseHead(r)
	f.data(firstByte, end, false, head, body)
	f.send(end, true, nil, false, false)
}

// close ends the connection, client first, and returns its segments.
func (f *flow) close() []segment {
	t := f.t
	f.send(t, true, nil, false, true)
	f.send(t, false, nil, false, true)
	f.send(t, true, nil, false, false)
	return f.segments
}

func (s segment) serialize(buf gopacket.SerializeBuffer) ([]byte, error) {
	src, dst := s.flow.client, s.flow.server
	if !s.fromClient {
		src, dst = dst, src
	}
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()),
		DstPort: layers.TCPPort(dst.Port()),
		Seq:     s.seq,
		SYN:     s.syn,
		FIN:     s.fin,
		PSH:     s.psh,
		ACK:     !(s.syn && s.fromClient),
		Window:  65535,
	}
	if tcp.ACK {
		tcp.Ack = s.ack
	}
	var ip gopacket.NetworkLayer
	if src.Addr().Is4() {
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	} else {
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(s.payload)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// requestHead is the request line and header of the request as HTTP/1.1;
// its body is the recorded data.
func requestHead(r *recorder.Record) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", httpToken(r.Method), requestTarget(r))
	if len(headerValues(r.Request.Headers, "Host")) == 0 {
		fmt.Fprintf(&b, "Host: %s\r\n", headerValue(callHost(r)))
	}
	writeHeaders(&b, r.Request.Headers)
	// A request without Content-Length has no body, so one is written only
	// when there is a body or the client announced one.
	if len(r.Request.Data) > 0 || r.Request.Size > 0 ||
		len(headerValues(r.Request.Headers, "Content-Length")) > 0 || len(headerValues(r.Request.Headers, "Transfer-Encoding")) > 0 {
		writeFraming(&b, r.Request)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// responseHead is the status line and header of the response as
// HTTP/1.1, and its body. A response that has no body by definition (to a
// HEAD, 1xx, 204, 304) keeps its recorded headers, since its Content-Length
// describes the resource, not the message.
func responseHead(r *recorder.Record) (head, body []byte) {
	var b bytes.Buffer
	text := http.StatusText(r.Status)
	if text == "" {
		text = "Unknown"
	}
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", r.Status, text)
	if r.Method == http.MethodHead || r.Status < 200 || r.Status == http.StatusNoContent || r.Status == http.StatusNotModified {
		for _, k := range slices.Sorted(maps.Keys(r.Response.Headers)) {
			for _, v := range r.Response.Headers[k] {
				if k != "" {
					fmt.Fprintf(&b, "%s: %s\r\n", httpToken(k), headerValue(v))
				}
			}
		}
		b.WriteString("\r\n")
		return b.Bytes(), nil
	}
	writeHeaders(&b, r.Response.Headers)
	writeFraming(&b, r.Response)
	b.WriteString("\r\n")
	return b.Bytes(), r.Response.Data
}

// writeHeaders writes h sorted by name, without its framing headers (the
// body is written as recorded, de-chunked and maybe capped, so the
// recorded framing no longer describes it).
func writeHeaders(b *bytes.Buffer, h map[string][]string) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		name := httpToken(k)
		if k == "" || strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") {
			continue
		}
		for _, v := range h[k] {
			fmt.Fprintf(b, "%s: %s\r\n", name, headerValue(v))
		}
	}
}

// writeFraming writes the Content-Length of the data written and, for a
// capped body, what the whole one was.
func writeFraming(b *bytes.Buffer, body recorder.Body) {
	b.WriteString("Content-Length: " + strconv.Itoa(len(body.Data)) + "\r\n")
	if isTruncated(body) {
		fmt.Fprintf(b, "X-Gatehouse-Truncated: %d bytes, sha256 %s\r\n", body.Size, headerValue(body.SHA256))
	}
}

// httpToken is s as an HTTP token (a method, a header name): any byte a
// token cannot hold becomes '_'. Go's server only hands over tokens; this
// keeps a record from anywhere else from breaking the stream.
func httpToken(s string) string {
	return replaceBytes(s, '_', func(c byte) bool {
		return c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0
	})
}

// headerValue is v as a field value: on one line, without control bytes.
func headerValue(v string) string {
	return replaceBytes(v, ' ', func(c byte) bool { return c < ' ' && c != '\t' || c == 0x7f })
}

// replaceBytes is s with the bytes bad reports replaced by with; other
// bytes, UTF-8 or not, are kept as they are.
func replaceBytes(s string, with byte, bad func(byte) bool) string {
	b := []byte(s)
	for i, c := range b {
		if bad(c) {
			b[i] = with
		}
	}
	return string(b)
}
