package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/ca"
	"github.com/gatehouse/gatehouse/intercept"
	"github.com/gatehouse/gatehouse/recorder"
)

func newServeCmd(g *globalFlags) *cobra.Command {
	var proxyListen, transparentListen, pprofListen string
	var transparent bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway: explicit proxy on 127.0.0.1:3128, transparent listener with --transparent",
		Long: `Run the gateway. With no config file it runs on embedded defaults:
the CA is created in the data dir on first run, the explicit proxy listens on
127.0.0.1:3128, and the transparent (TPROXY) listener on :15001 when
--transparent is given (pair it with 'gatehouse net up').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("proxy-listen") {
				cfg.Intercept.Proxy.Listen = proxyListen
			}
			if cmd.Flags().Changed("transparent") {
				cfg.Intercept.Transparent.Enabled = transparent
			}
			if cmd.Flags().Changed("transparent-listen") {
				cfg.Intercept.Transparent.Listen = transparentListen
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			log := newLogger(cfg.Log.Level, cfg.Log.Format)
			if os.Getenv("GOMEMLIMIT") == "" && cfg.MemoryLimit > 0 {
				debug.SetMemoryLimit(cfg.MemoryLimit)
			}
			authority, created, err := ca.LoadOrInit(cfg.caOptions())
			if err != nil {
				return err
			}
			if created {
				log.Info("created the gateway CA; agents must trust it (gatehouse ca export)", "dir", cfg.caDir(), "fingerprint", authority.Fingerprint())
			}
			for _, h := range cfg.Intercept.Hosts {
				if err := authority.Permits(h); err != nil {
					return fmt.Errorf("intercept.hosts %q: the CA in %s cannot issue for it (%w); remove the host or re-create the CA with 'gatehouse ca init --domains'", h, cfg.caDir(), err)
				}
			}
			certs := ca.NewCache(authority, ca.CacheOptions{Size: cfg.CA.CacheSize, Lifetime: cfg.CA.LeafLifetime})
			authn, err := buildAuthn(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			decider, err := buildPolicy(cmd.Context(), cfg.Policy, log)
			if err != nil {
				return err
			}
			// The chain records through an interface: a nil store must
			// reach it as a nil interface, which it reads as no recorder.
			var records *recorder.Store
			var chainRecords intercept.Recorder
			if cfg.Recorder.Disabled {
				log.Warn("recorder.disabled is on: calls are forwarded and not recorded")
			} else {
				if records, err = buildRecorder(cmd.Context(), cfg, log); err != nil {
					return err
				}
				chainRecords = records
				defer func() {
					if err := records.Close(); err != nil {
						log.Error("closing the recorder", "err", err)
					}
				}()
				if err := runS3Export(cmd.Context(), cfg, records, log); err != nil {
					return err
				}
			}
			approvals, err := buildApprovals(cmd.Context(), cfg, authn, records, log)
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			srv, err := intercept.New(intercept.Options{
				Config: cfg.Intercept, Certs: certs, Logger: log, Authn: authn, Policy: decider, Approvals: approvals,
				Recorder: chainRecords, BodyCap: cfg.Recorder.BodyCap, Metrics: reg,
			})
			if err != nil {
				return err
			}
			if cfg.Metrics.Listen != "" {
				go serveMetrics(cfg.Metrics.Listen, reg, log)
			}
			if pprofListen != "" {
				go servePprof(pprofListen, log)
			}
			log.Info("gatehouse serving", "ca_fingerprint", authority.Fingerprint(), "data_dir", cfg.DataDir)
			if err := srv.Run(cmd.Context()); err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&proxyListen, "proxy-listen", "", "explicit proxy address (default 127.0.0.1:3128)")
	f.BoolVar(&transparent, "transparent", false, "also run the transparent listener nftables TPROXY feeds")
	f.StringVar(&transparentListen, "transparent-listen", "", "transparent listener address (default :15001)")
	f.StringVar(&pprofListen, "pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060), for profiling")
	return cmd
}

func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("metrics", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("metrics listener", "addr", addr, "err", err)
	}
}

func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("pprof listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("pprof", "err", err)
	}
}
