package intercept

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/recorder"
)

// The chain's cost per small call, in process: an agent's signed
// DynamoDB GetItem on a kept-alive TLS connection, through the gateway to
// an upstream answering like DynamoDB. full is what production runs
// (SigV4 verify, policy, re-sign, a durable record, a mask profile that
// parses every response); passthrough intercepts and forwards only.
//
//	go test ./intercept -run x -bench ChainSmallCalls -cpuprofile cpu.out
func BenchmarkChainSmallCalls(b *testing.B) {
	const item = `{"Item":{"pk":{"S":"agent-42"},"sk":{"S":"session#2026-11-26"},"count":{"N":"17"},"payload":{"S":"aGVsbG8gZ2F0ZWhvdXNlIGJlbmNobWFyayBwYXlsb2Fk"}}}`
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", "2745614147")
		io.WriteString(w, item)
	})
	const body = `{"TableName":"bench","Key":{"pk":{"S":"agent-42"},"sk":{"S":"session#2026-11-26"}}}`
	full := `
version: 1
default: deny
rules:
  - {id: no-prod, effect: deny, actions: ["dynamodb:Delete*"], resources: ["arn:aws:dynamodb:*:*:table/prod-*"]}
  - {id: reads, effect: allow, identities: {groups: [agents]}, actions: ["dynamodb:GetItem", "dynamodb:Query"], mask: pii}
masks:
  pii:
    detectors: [email, card]
    fields:
      - {actions: ["dynamodb:GetItem"], paths: ["Item.payload"]}
`
	run := func(b *testing.B, l *lab, sign func(*http.Request)) {
		c := l.client(b, "dynamodb.us-east-1.amazonaws.com")
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			req, _ := http.NewRequest("POST", "https://dynamodb.us-east-1.amazonaws.com/", strings.NewReader(body))
			req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
			sign(req)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	b.Run("full", func(b *testing.B) {
		st, err := recorder.Open(recorder.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		p, err := policy.Parse("bench.yaml", []byte(full))
		if err != nil {
			b.Fatal(err)
		}
		l, creds := newAuthnLabWith(b, upstream, func(o *Options) { o.Recorder = st; o.Policy = p })
		run(b, l, func(r *http.Request) { sign(b, r, creds, "", "dynamodb", hashOf(body)) })
	})
	b.Run("passthrough", func(b *testing.B) {
		p, err := policy.Parse("bench.yaml", []byte("version: 1\ndefault: allow\nrules:\n  - {id: all, effect: allow, actions: [\"*\"], mask: none}\n"))
		if err != nil {
			b.Fatal(err)
		}
		l := newLabWith(b, []string{"dynamodb.us-east-1.amazonaws.com"}, nil, nil, upstream, func(o *Options) { o.Policy = p })
		run(b, l, func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/dynamodb/aws4_request")
		})
	})
}
