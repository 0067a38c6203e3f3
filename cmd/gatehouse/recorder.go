package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/recorder"
)

// RecorderConfig is the recorder section: where every call's record is
// kept, for how long, and how much of each body.
type RecorderConfig struct {
	// Disabled turns recording off: calls are forwarded with no record.
	// For measuring interception alone (make bench), never for agents.
	Disabled bool   `yaml:"disabled"`
	Dir      string `yaml:"dir"` // default data_dir/records
	// Retention expires records after this age; 0 keeps them forever.
	// Expired records show up in `audit verify` as missing: export them
	// first (export.s3).
	Retention time.Duration `yaml:"retention"`
	BodyCap   int           `yaml:"body_cap"` // bytes of each body kept; default 64 KiB (size and SHA-256 always of the whole)
	// MinFree is the free space the store's filesystem must keep; below it
	// calls are refused. Default 128 MiB.
	MinFree int64 `yaml:"min_free"`
	// KeyFile is the ed25519 key that signs checkpoints and the chain's
	// head; created (0600) on first run. Default data_dir/recorder.key.
	KeyFile         string        `yaml:"key_file"`
	CheckpointEvery int           `yaml:"checkpoint_every"` // entries between signed checkpoints; default 1000
	GCInterval      time.Duration `yaml:"gc_interval"`      // value-log GC; default 10m
	// SyncCompletions fsyncs each call's completion before the agent has
	// the response's end, as the intent is fsynced before the call
	// leaves. Off (the default), a completion is committed then (a killed
	// gateway loses none) and fsynced with the next intent or within
	// 100ms, so a power cut can cost that window's completions: one
	// fsync per call instead of two.
	SyncCompletions bool `yaml:"sync_completions"`
	// Export copies the chain to S3 as it grows (off without a bucket).
	Export S3ExportConfig `yaml:"export"`
}

func (c *Config) recorderDefaults() {
	if c.Policy.MaskKeyFile == "" {
		c.Policy.MaskKeyFile = filepath.Join(c.DataDir, "mask.key")
	}
	r := &c.Recorder
	if r.Dir == "" {
		r.Dir = filepath.Join(c.DataDir, "records")
	}
	if r.KeyFile == "" {
		r.KeyFile = filepath.Join(c.DataDir, "recorder.key")
	}
	if r.BodyCap == 0 {
		r.BodyCap = 64 << 10
	}
	if r.GCInterval == 0 {
		r.GCInterval = 10 * time.Minute
	}
	if r.MinFree == 0 {
		r.MinFree = 128 << 20
	}
}

func (r RecorderConfig) validate() error {
	var errs []error
	if r.Retention < 0 || (r.Retention > 0 && r.Retention < time.Hour) {
		errs = append(errs, fmt.Errorf("recorder.retention: %v is under an hour (0 keeps records forever)", r.Retention))
	}
	if r.BodyCap < 0 {
		errs = append(errs, fmt.Errorf("recorder.body_cap: %d is negative", r.BodyCap))
	}
	if r.MinFree < 0 {
		errs = append(errs, fmt.Errorf("recorder.min_free: %d is negative", r.MinFree))
	}
	if r.Disabled && r.Export.Bucket != "" {
		errs = append(errs, errors.New("recorder.export.bucket: nothing to export when recorder.disabled is true"))
	}
	if e := r.Export; e.Bucket != "" {
		if e.ObjectLockDays < 0 {
			errs = append(errs, fmt.Errorf("recorder.export.object_lock_days: %d is negative", e.ObjectLockDays))
		}
		switch e.ObjectLockMode {
		case "", "COMPLIANCE", "GOVERNANCE":
		default:
			errs = append(errs, fmt.Errorf("recorder.export.object_lock_mode: %q is neither COMPLIANCE nor GOVERNANCE", e.ObjectLockMode))
		}
		if e.Every < 0 || (e.Every > 0 && e.Every < 10*time.Second) {
			errs = append(errs, fmt.Errorf("recorder.export.every: %v is under 10s", e.Every))
		}
	}
	return errors.Join(errs...)
}

// readOrCreatePrivate reads a key file, or creates it (0600, in a 0700
// directory, synced) with what create returns when there is none. It
// refuses a file others can read.
func readOrCreatePrivate(path, what string, create func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if b, err = create(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		_, err = f.Write(b)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, path, err)
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s %s is readable by others (mode %v); run: chmod 600 %s", what, path, st.Mode().Perm(), path)
	}
	return b, nil
}

// loadOrCreateRecorderKey reads the checkpoint key, creating it 0600 when
// it does not exist. It refuses a key file others can read.
func loadOrCreateRecorderKey(path string) (ed25519.PrivateKey, error) {
	b, err := readOrCreatePrivate(path, "recorder key", func() ([]byte, error) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("recorder key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("recorder key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("recorder key %s: not an ed25519 key", path)
	}
	return key, nil
}

// openRecorder opens the record store as configured: for the gateway
// (readOnly false, creating the key), or for the CLI's reads.
func openRecorder(cfg *Config, readOnly bool) (*recorder.Store, error) {
	rc := cfg.Recorder
	var key ed25519.PrivateKey
	var err error
	if readOnly {
		if _, serr := os.Stat(rc.Dir); serr != nil {
			return nil, fmt.Errorf("no records at %s (recorder.dir): %w", rc.Dir, serr)
		}
		if key, err = loadRecorderKeyIfExists(rc.KeyFile); err != nil {
			return nil, err
		}
	} else if key, err = loadOrCreateRecorderKey(rc.KeyFile); err != nil {
		return nil, err
	}
	s, err := recorder.Open(recorder.Options{
		Dir: rc.Dir, TTL: rc.Retention, CheckpointKey: key, CheckpointEvery: rc.CheckpointEvery,
		MinFree: rc.MinFree, ReadOnly: readOnly, SyncCompletions: rc.SyncCompletions,
	})
	if err != nil {
		if readOnly {
			return nil, fmt.Errorf("%w (is 'gatehouse serve' running? it holds the store; ask it through its admin socket)", err)
		}
		return nil, fmt.Errorf("%w: check that %s is writable and has free space, and that no other gateway uses it", err, rc.Dir)
	}
	return s, nil
}

// loadRecorderKeyIfExists reads the key for verification; without
// it checkpoints cannot be checked, which Verify then reports.
func loadRecorderKeyIfExists(path string) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return loadOrCreateRecorderKey(path)
}

// buildRecorder opens the store for serve, reports what a crash left
// incomplete, and runs value-log GC.
func buildRecorder(ctx context.Context, cfg *Config, log *slog.Logger) (*recorder.Store, error) {
	s, err := openRecorder(cfg, false)
	if err != nil {
		return nil, err
	}
	if inc := s.Incomplete(); len(inc) > 0 {
		shown := inc
		if len(shown) > 20 {
			shown = shown[:20]
		}
		log.Warn("records left incomplete by the last run: these calls were forwarded and their outcome is unknown; each now ends with verdict interrupted (gatehouse sessions show ID)",
			"count", len(inc), "ids", shown)
		// Their completion says so, once: the next start does not report
		// them again, and an auditor reads an explicit outcome.
		for _, id := range inc {
			err := s.Complete(ctx, id, func(r *recorder.Record) {
				r.Verdict, r.ErrorCode = "interrupted", "GatewayInterrupted"
			})
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("closing the incomplete record %s: %w", id, err)
			}
		}
	}
	go s.GC(ctx, cfg.Recorder.GCInterval, func(err error) { log.Warn("recorder value-log GC", "err", err) })
	log.Info("recorder", "dir", cfg.Recorder.Dir, "retention", cfg.Recorder.Retention, "body_cap", cfg.Recorder.BodyCap)
	return s, nil
}
