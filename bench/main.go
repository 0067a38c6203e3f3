// Command bench is `make bench`: it brings the lab up, measures small
// DynamoDB-shaped calls from gh-agent to an HTTPS upstream in gh-aws, direct
// and through Gatehouse (transparent capture), prints a table of absolute
// figures and ratios to direct, writes BENCHMARKS.md, and tears the lab down.
//
// Direct and through-Gatehouse runs cross the same namespaces and the same
// gh-gw forwarding hop; only the port differs (8443 is not captured, 443 is).
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/deploy/lab"
)

const benchHost = "bench.dynamodb.us-east-1.amazonaws.com"

func main() {
	out := flag.String("out", "BENCHMARKS.md", "write the results here (empty: stdout only)")
	dur := flag.Duration("duration", 5*time.Second, "measurement time per run")
	conc := flag.String("clients", "1,16", "concurrent clients per run, comma-separated")
	flag.Parse()
	var levels []int
	for _, f := range strings.Split(*conc, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			log.Fatalf("-clients: %q is not a positive number", f)
		}
		levels = append(levels, n)
	}
	if err := run(*out, *dur, levels); err != nil {
		log.Fatal(err)
	}
}

func run(outFile string, dur time.Duration, levels []int) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := lab.Script(root, "up.sh"); err != nil {
		return err
	}
	defer lab.Script(root, "down.sh")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; lab.Script(root, "down.sh"); os.Exit(1) }()

	cert, err := lab.PublicLeaf(root, benchHost)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(dynamoLike), TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}, ErrorLog: log.New(io.Discard, "", 0)}
	for _, port := range []string{"443", "8443"} {
		ln, err := lab.Listen(lab.NSAWS, lab.AWSIP2+":"+port)
		if err != nil {
			return err
		}
		go srv.ServeTLS(ln, "", "")
	}
	defer srv.Close()

	publicCA, err := lab.CertPool(filepath.Join(lab.Out(root), "pki/public-ca.pem"))
	if err != nil {
		return err
	}
	gatehouseCA, err := lab.CertPool(filepath.Join(lab.Out(root), "gatehouse-ca.pem"))
	if err != nil {
		return err
	}
	targets := []struct {
		name  string
		addr  string
		roots *x509.CertPool
	}{
		{"direct", lab.AWSIP2 + ":8443", publicCA},
		{"gatehouse (transparent)", lab.AWSIP2 + ":443", gatehouseCA},
	}
	var rows []row
	for _, conc := range levels {
		var direct *result
		for _, tg := range targets {
			c := agentClient(tg.addr, tg.roots, conc)
			measure(c, conc, time.Second) // warm up: handshakes, leaf minted, pools filled
			r := measure(c, conc, dur)
			if r.errors > 0 {
				return fmt.Errorf("%s: %d errors, first: %v", tg.name, r.errors, r.firstErr)
			}
			if direct == nil {
				direct = r
			}
			rows = append(rows, row{fmt.Sprintf("small calls, keep-alive, %d client(s)", conc), tg.name, r, direct})
			c.CloseIdleConnections()
		}
	}
	table := render(rows)
	fmt.Print(table)
	if outFile == "" {
		return nil
	}
	return os.WriteFile(outFile, []byte(report(table)), 0o644)
}

// dynamoLike answers like DynamoDB GetItem: a small JSON body with CRC32.
func dynamoLike(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", "2745614147")
	w.Header().Set("X-Amzn-Requestid", "BENCH0000000000000000000000000000000000000000000000")
	io.WriteString(w, `{"Item":{"pk":{"S":"agent-42"},"sk":{"S":"session#2026-11-26"},"count":{"N":"17"},"payload":{"S":"aGVsbG8gZ2F0ZWhvdXNlIGJlbmNobWFyayBwYXlsb2Fk"}}}`)
}

var getItem = []byte(`{"TableName":"bench","Key":{"pk":{"S":"agent-42"},"sk":{"S":"session#2026-11-26"}}}`)

type result struct {
	calls    int
	elapsed  time.Duration
	lat      []time.Duration
	errors   int
	firstErr error
}

func (r *result) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }
func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

func measure(c *http.Client, conc int, dur time.Duration) *result {
	var mu sync.Mutex
	res := &result{}
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var errs int
			var first error
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := call(c)
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.calls = len(res.lat)
	slices.Sort(res.lat)
	return res
}

func call(c *http.Client) error {
	req, _ := http.NewRequest("POST", "https://"+benchHost+"/", bytes.NewReader(getItem))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// agentClient dials addr from gh-agent, whatever the URL names.
func agentClient(addr string, roots *x509.CertPool, conc int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:         lab.AgentDial(func(string) string { return addr }),
		TLSClientConfig:     &tls.Config{RootCAs: roots, ServerName: benchHost},
		MaxIdleConnsPerHost: conc,
	}}
}

type row struct {
	workload, target string
	r, direct        *result
}

func render(rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| workload | target | calls/s | ratio to direct | p50 | p99 | added p50 | added p99 |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %s | %s | %s | %s |\n", r.workload, r.target, r.r.rate(), r.r.rate()/r.direct.rate(),
			us(r.r.pct(0.5)), us(r.r.pct(0.99)), us(r.r.pct(0.5)-r.direct.pct(0.5)), us(r.r.pct(0.99)-r.direct.pct(0.99)))
	}
	return b.String()
}

func us(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

func report(table string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf(`# Benchmarks

Written by `+"`make bench`"+` on %s: %d cores, %s, %s, Linux lab namespaces
(gh-agent → gh-gw → gh-aws, veth). The client, the upstream (a Go HTTPS
server answering like DynamoDB GetItem) and Gatehouse share the same cores,
so absolute figures understate both targets; the ratios are what to read.
Direct and Gatehouse runs cross the same forwarding hop; only the port
differs (8443 passes the gateway's forwarding, 443 is captured by TPROXY).
Both legs are TLS; connections are kept alive; each run measures for a fixed
time after a warm-up second.

%s
Not measured yet (issue [6/6]): peers (squid, mitmproxy, goproxy-bare), new
connections per second, 1 GiB PUT/GET, idle connections, held calls.
`, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpu, runtime.Version(), table)
}
