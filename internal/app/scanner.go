package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/scanner/adapter"
)

// ScannerOptions configure `berth scanner`, the built-in scanner adapter.
type ScannerOptions struct {
	Addr     string // listen address, e.g. 127.0.0.1:8090
	Trivy    string // trivy binary
	CacheDir string // Trivy's cache dir holding db/trivy.db
}

// Scanner serves the built-in Pluggable Scanner API adapter until ctx
// ends (internal/scanner/adapter).
func Scanner(ctx context.Context, o ScannerOptions, log *slog.Logger) error {
	if o.Trivy == "" || o.CacheDir == "" {
		return errors.New("scanner: --trivy and --trivy-cache are required")
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("scanner: listen: %w", err)
	}
	srv := &http.Server{Handler: adapter.New(adapter.Options{Trivy: o.Trivy, CacheDir: o.CacheDir, Log: log}).Handler(),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute}
	log.InfoContext(ctx, "scanner adapter listening", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
