package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse/gatehouse/policy/approval"
	"github.com/gatehouse/gatehouse/recorder"
	"github.com/gatehouse/gatehouse/recorder/export"
)

// S3ExportConfig is recorder.export: the gateway copies its chain to S3 for
// auditors as it grows. Off unless Bucket is set.
type S3ExportConfig struct {
	Bucket         string        `yaml:"bucket"`
	Prefix         string        `yaml:"prefix"`
	Region         string        `yaml:"region"`       // default: the SDK's (AWS_REGION)
	EndpointURL    string        `yaml:"endpoint_url"` // an S3-compatible store; default AWS
	PathStyle      bool          `yaml:"path_style"`
	ObjectLockDays int           `yaml:"object_lock_days"` // retention of each object; 0: the bucket's default
	ObjectLockMode string        `yaml:"object_lock_mode"` // COMPLIANCE (default) or GOVERNANCE
	Every          time.Duration `yaml:"every"`            // default 5m
}

// s3Target is where an export goes, from flags or config.
type s3Target struct {
	S3ExportConfig
	statePath    string
	batchEntries int
}

func (t s3Target) client(ctx context.Context) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if t.Region != "" {
		opts = append(opts, config.WithRegion(t.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for the export: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if t.EndpointURL != "" {
			o.BaseEndpoint = aws.String(t.EndpointURL)
		}
		o.UsePathStyle = t.PathStyle
	}), nil
}

func (t s3Target) options(progress func(done, total uint64)) export.S3Options {
	return export.S3Options{
		Bucket: t.Bucket, Prefix: t.Prefix, ObjectLockDays: t.ObjectLockDays,
		ObjectLockMode: types.ObjectLockMode(t.ObjectLockMode), StatePath: t.statePath, Progress: progress,
		BatchEntries: t.batchEntries,
	}
}

func (t *s3Target) register(cmd *cobra.Command, lock bool) {
	f := cmd.Flags()
	f.StringVar(&t.Bucket, "bucket", "", "the bucket (required)")
	f.StringVar(&t.Prefix, "prefix", "", "key prefix in the bucket")
	f.StringVar(&t.Region, "region", "", "the bucket's region (default: AWS_REGION, else us-east-1)")
	f.StringVar(&t.EndpointURL, "endpoint-url", "", "an S3-compatible endpoint, e.g. https://minio.example:9000 (default AWS)")
	f.BoolVar(&t.PathStyle, "path-style", false, "path-style bucket addressing (most S3-compatible stores)")
	if lock {
		f.IntVar(&t.ObjectLockDays, "object-lock-days", 0, "retain each object this many days with S3 Object Lock (the bucket must have it enabled); 0: the bucket's default")
		f.StringVar(&t.ObjectLockMode, "object-lock-mode", "", "COMPLIANCE (default) or GOVERNANCE")
		f.StringVar(&t.statePath, "state", "", "file keeping the last manifest written, so a rerun lists less of the bucket (the bucket stays the truth)")
		f.IntVar(&t.batchEntries, "batch-entries", 0, "entries per batch (default 10000)")
		_ = f.MarkHidden("batch-entries")
	}
}

func newExportS3Cmd(g *globalFlags) *cobra.Command {
	var af adminFlags
	var t s3Target
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "s3 --bucket B [--prefix P] [--object-lock-days N]",
		Short: "Copy the record chain to S3 for auditors: JSON Lines, gzip, dt=/hour= partitions, signed manifests",
		Long: `Copy every record not yet exported to S3: the chain's entries as JSON
Lines, gzip, under records/dt=YYYY-MM-DD/hour=HH/ (the layout Athena and Glue
query as is; docs/athena.md has the table), and a manifest per batch with its
sequence range, chain hashes and the gateway's signature. Object names come
from sequence ranges and no key is ever written twice, so a run cut short is
finished by the next one with every record exactly once.

The records are read from the running gateway (its socket as root, or
--server with an approver's token) or, when no gateway runs, from the store.
S3 is reached with this machine's AWS credentials (the SDK's default chain).
The gateway can export continuously instead: recorder.export in its config.`,
		Example: `  gatehouse export s3 --bucket audit-records --prefix gw-1 --object-lock-days 365
  gatehouse export verify --bucket audit-records --prefix gw-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if t.Bucket == "" {
				return errors.New("give the bucket: --bucket NAME")
			}
			chain, closeChain, err := af.chain(g)
			if err != nil {
				return err
			}
			defer closeChain()
			client, err := t.client(cmd.Context())
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			progress := func(done, total uint64) {}
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) && !asJSON {
				progress = func(done, total uint64) {
					if bar == nil {
						bar = progressbar.NewOptions64(int64(total), progressbar.OptionSetWriter(f),
							progressbar.OptionSetDescription("exporting records"), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
					}
					_ = bar.Set64(int64(done))
				}
			}
			x, err := export.NewS3(chain, client, t.options(progress))
			if err != nil {
				return err
			}
			res, err := x.Export(cmd.Context())
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			if err != nil {
				return fmt.Errorf("%w\nrerun the same command to finish: what was written stays and is not written again", err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			if res.Last == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "nothing new to export to s3://%s/%s\n", t.Bucket, t.Prefix)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported records %d-%d in %d batches (%d objects, %d already in place) to s3://%s/%s\n",
				res.First, res.Last, res.Batches, res.Objects, res.Resumed, t.Bucket, t.Prefix)
			return nil
		},
	}
	af.register(cmd)
	t.register(cmd, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	return cmd
}

func newExportVerifyCmd(g *globalFlags) *cobra.Command {
	var t s3Target
	var asJSON bool
	var pubFile string
	cmd := &cobra.Command{
		Use:   "verify --bucket B [--prefix P] [--public-key FILE]",
		Short: "Check an S3 export: every object against its manifest, the chain across batches, the signatures; exit 1 on any problem",
		Long: `Read an export back from S3 and check it: each object's SHA-256 and
entry count against its manifest, sequence ranges with no gap or overlap,
every entry's hash and link to the one before (across batches too), no key
with a second version, and the manifests' signatures. The signatures are
checked against the gateway's public key: --public-key (from 'gatehouse
audit public-key'), else the key file in the gateway's data dir when it can
be read. Entries cut from the end of an export leave no trace in S3: compare
the last seq with the gateway's head ('gatehouse audit verify').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if t.Bucket == "" {
				return errors.New("give the bucket: --bucket NAME")
			}
			trusted, err := trustedKey(g, pubFile)
			if err != nil {
				return err
			}
			client, err := t.client(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := export.VerifyS3(cmd.Context(), client, t.Bucket, t.Prefix)
			if err != nil {
				return err
			}
			untrusted := trusted != "" && slices.ContainsFunc(rep.PublicKeys, func(k string) bool { return k != trusted })
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), struct {
					export.S3Report
					TrustedKey       string `json:"trusted_key,omitempty"`
					UntrustedKeyUsed bool   `json:"untrusted_key_used"`
				}{rep, trusted, untrusted}); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "manifests %d, objects %d, entries %d (seq %d-%d), signatures %d (signed up to %d)\n",
					rep.Manifests, rep.Objects, rep.Entries, rep.First, rep.Last, rep.Checkpoints, rep.SignedUpTo)
				for _, p := range rep.Pending {
					fmt.Fprintf(w, "pending (an interrupted export's batch; the next run finishes it): %s\n", p)
				}
				for _, p := range rep.Problems {
					fmt.Fprintf(w, "PROBLEM %s seq %d %s: %s\n", p.Kind, p.Seq, p.Key, p.Detail)
				}
				switch {
				case trusted == "":
					fmt.Fprintln(w, "signing key not checked: give --public-key (gatehouse audit public-key on the gateway)")
				case untrusted:
					fmt.Fprintf(w, "PROBLEM manifests are signed with a key that is not the gateway's (%v)\n", rep.PublicKeys)
				}
			}
			if n := len(rep.Problems); n > 0 || untrusted {
				if untrusted {
					n++
				}
				return fmt.Errorf("export verify: %d %s in s3://%s/%s: objects were changed, lost or added after the export, or signed by another key; keep the bucket's versions as evidence", n, plural(n, "problem"), t.Bucket, t.Prefix)
			}
			return nil
		},
	}
	t.register(cmd, false)
	cmd.Flags().StringVar(&pubFile, "public-key", "", "the gateway's public key (PEM), from gatehouse audit public-key")
	cmd.Flags().BoolVar(&asJSON, "json", false, "machine-readable output")
	return cmd
}

// trustedKey is the public key (base64, as S3Report lists them) manifests
// must be signed with: --public-key's, else the gateway's key file's when
// readable, else "" (unchecked).
func trustedKey(g *globalFlags, pubFile string) (string, error) {
	if pubFile != "" {
		b, err := os.ReadFile(pubFile)
		if err != nil {
			return "", fmt.Errorf("read --public-key: %w", err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return "", fmt.Errorf("--public-key %s: not PEM", pubFile)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return "", fmt.Errorf("--public-key %s: %w", pubFile, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return "", fmt.Errorf("--public-key %s: not an ed25519 key", pubFile)
		}
		return base64.StdEncoding.EncodeToString(pub), nil
	}
	cfg, err := g.load()
	if err != nil {
		return "", nil
	}
	key, err := loadRecorderKeyIfExists(cfg.Recorder.KeyFile)
	if err != nil || key == nil {
		return "", nil
	}
	return base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)), nil
}

// chain reaches the record chain for an export: the gateway's admin API
// when one answers, else the store, read-only.
func (a *adminFlags) chain(g *globalFlags) (export.Chain, func(), error) {
	src, err := a.records(g)
	if err != nil {
		return nil, nil, err
	}
	switch s := src.(type) {
	case *storeRecords:
		return s.store, func() { s.Close() }, nil
	case apiRecords:
		return &apiChain{apiRecords: s}, func() {}, nil
	}
	return nil, nil, fmt.Errorf("no record chain in %T", src)
}

// mountChain serves the chain's entries, head and checkpoints to exports
// run by the CLI while the gateway holds the store.
func mountChain(api *approval.Server, store *recorder.Store, log *slog.Logger) {
	api.Handle("GET /v1/chain/head", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := store.Head()
		if err != nil {
			writeRecordsError(w, log, "chain head", err)
			return
		}
		writeChainJSON(w, chainHead{Head: c, PublicKey: store.CheckpointPublicKey()})
	}))
	api.Handle("GET /v1/chain/checkpoint", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at, err := strconv.ParseUint(r.URL.Query().Get("at"), 10, 64)
		if err != nil {
			writeRecordsError(w, log, "chain checkpoint", fmt.Errorf("%w: at=%q", errBadQuery, r.URL.Query().Get("at")))
			return
		}
		c, ok, err := store.LastCheckpoint(at)
		if err != nil {
			writeRecordsError(w, log, "chain checkpoint", err)
			return
		}
		writeChainJSON(w, chainCheckpoint{Checkpoint: c, Found: ok})
	}))
	// Entries from seq `from`, as stored, one per line; at most `limit`.
	api.Handle("GET /v1/chain/entries", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(recordsTimeout))
		from, err1 := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
		limit, err2 := strconv.Atoi(r.URL.Query().Get("limit"))
		if err1 != nil || err2 != nil || limit <= 0 {
			writeRecordsError(w, log, "chain entries", fmt.Errorf("%w: from and limit must be positive numbers", errBadQuery))
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		bw := bufio.NewWriter(w)
		n := 0
		errStop := errors.New("stop")
		err := store.Entries(r.Context(), from, func(e recorder.Entry) error {
			if n == limit {
				return errStop
			}
			n++
			fmt.Fprintf(bw, "%d ", e.Seq)
			bw.Write(e.JSON)
			return bw.WriteByte('\n')
		})
		if err != nil && !errors.Is(err, errStop) {
			// Mid-stream: the client sees a short, unterminated page.
			log.Error("records API", "endpoint", "chain entries", "err", err)
			fmt.Fprintln(bw, "error")
		}
		bw.Flush()
	}))
}

type chainHead struct {
	Head      recorder.Checkpoint `json:"head"`
	PublicKey ed25519.PublicKey   `json:"public_key"`
}

type chainCheckpoint struct {
	Checkpoint recorder.Checkpoint `json:"checkpoint"`
	Found      bool                `json:"found"`
}

func writeChainJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// apiChain reads a running gateway's chain through its admin API.
type apiChain struct {
	apiRecords
	pub ed25519.PublicKey
}

const chainPage = 2048

func (a *apiChain) Head() (recorder.Checkpoint, error) {
	var h chainHead
	if err := a.get(context.Background(), "/v1/chain/head", &h); err != nil {
		return recorder.Checkpoint{}, err
	}
	a.pub = h.PublicKey
	return h.Head, nil
}

func (a *apiChain) CheckpointPublicKey() ed25519.PublicKey {
	if a.pub == nil {
		_, _ = a.Head()
	}
	return a.pub
}

func (a *apiChain) LastCheckpoint(seq uint64) (recorder.Checkpoint, bool, error) {
	var c chainCheckpoint
	err := a.get(context.Background(), "/v1/chain/checkpoint?at="+strconv.FormatUint(seq, 10), &c)
	return c.Checkpoint, c.Found, err
}

func (a *apiChain) Entries(ctx context.Context, from uint64, fn func(recorder.Entry) error) error {
	next := max(from, 1)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			a.c.BaseURL+"/v1/chain/entries?from="+strconv.FormatUint(next, 10)+"&limit="+strconv.Itoa(chainPage), nil)
		if err != nil {
			return err
		}
		if a.c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+a.c.Token)
		}
		resp, err := a.c.HTTPClient.Do(req)
		if err != nil {
			return fmt.Errorf("records from the gateway at %s: %w", a.where, err)
		}
		n, last, fnErr, err := readEntries(resp, fn)
		resp.Body.Close()
		if fnErr != nil {
			return fnErr // as is, as recorder.Store.Entries returns it
		}
		if err != nil {
			return fmt.Errorf("records from the gateway at %s: %w", a.where, err)
		}
		if n < chainPage {
			return nil
		}
		next = last + 1
	}
}

// readEntries reads one page of "SEQ JSON" lines and hands each to fn;
// fnErr is fn's error, err the page's.
func readEntries(resp *http.Response, fn func(recorder.Entry) error) (n int, last uint64, fnErr, err error) {
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, 0, nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		seqText, js, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			return n, last, nil, errors.New("the gateway cut the entries short; rerun")
		}
		seq, err := strconv.ParseUint(string(seqText), 10, 64)
		if err != nil {
			return n, last, nil, fmt.Errorf("bad entry line: %w", err)
		}
		var r recorder.Record
		if err := json.Unmarshal(js, &r); err != nil {
			return n, last, nil, fmt.Errorf("entry %d: %w", seq, err)
		}
		if err := fn(recorder.Entry{Seq: seq, Record: &r, JSON: append([]byte(nil), js...)}); err != nil {
			return n, last, err, nil
		}
		n, last = n+1, seq
	}
	return n, last, nil, sc.Err()
}

// runS3Export exports continuously from serve when recorder.export names a
// bucket.
func runS3Export(ctx context.Context, cfg *Config, store *recorder.Store, log *slog.Logger) error {
	ec := cfg.Recorder.Export
	if ec.Bucket == "" {
		return nil
	}
	t := s3Target{S3ExportConfig: ec, statePath: cfg.DataDir + "/export-s3.json"}
	client, err := t.client(ctx)
	if err != nil {
		return err
	}
	x, err := export.NewS3(store, client, t.options(nil))
	if err != nil {
		return fmt.Errorf("recorder.export: %w", err)
	}
	every := ec.Every
	if every <= 0 {
		every = 5 * time.Minute
	}
	log.Info("exporting records to S3", "bucket", ec.Bucket, "prefix", ec.Prefix, "every", every)
	go x.Run(ctx, every, func(res export.S3Result, err error) {
		if err != nil {
			log.Error("export to S3 failed; the next pass retries", "bucket", ec.Bucket, "err", err)
			return
		}
		if res.Last > 0 {
			log.Info("exported records to S3", "bucket", ec.Bucket, "first", res.First, "last", res.Last, "batches", res.Batches, "objects", res.Objects)
		}
	})
	return nil
}
