// Command berth is the Berth container registry: one binary that serves
// the OCI Distribution API on SQLite + local disk with no configuration.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/fsck"
	"github.com/berth-registry/berth/internal/observe"
	"github.com/berth-registry/berth/internal/version"
)

const usage = `usage: berth <command> [--config file.yaml]

commands:
  serve     run the registry (default: SQLite + ./data, listening on :5000)
  migrate   bring the metadata database to the current schema
  fsck      compare the database with blob storage [--rehash] [--orphans]
  gc        collect garbage now, beside serving replicas [--dry-run] [--grace DURATION]
  scanner   serve the built-in scanner adapter (Harbor's Pluggable Scanner API, Trivy offline)
            [--listen 127.0.0.1:8090] --trivy PATH --trivy-cache DIR
  version   print the version

environment overrides:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "berth:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return fmt.Errorf("no command given")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", getenv("BERTH_CONFIG"), "YAML configuration file (optional)")
	rehash := fs.Bool("rehash", false, "fsck: read every blob and verify its digest")
	orphans := fs.Bool("orphans", false, "fsck: also list stored objects no blob owns")
	dryRun := fs.Bool("dry-run", false, "gc: list what would be deleted, delete nothing")
	grace := fs.String("grace", "", "gc: keep unreferenced blobs this long (default: gc.grace, 24h)")
	scanListen := fs.String("listen", "127.0.0.1:8090", "scanner: listen address")
	scanTrivy := fs.String("trivy", getenv("BERTH_SCANNER_TRIVY"), "scanner: trivy binary")
	scanCache := fs.String("trivy-cache", getenv("BERTH_SCANNER_TRIVY_CACHE"), "scanner: Trivy cache dir holding db/trivy.db")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cmd {
	case "version":
		_, err := fmt.Fprintln(stdout, "berth", version.String())
		return err
	case "serve", "migrate", "fsck", "gc", "scanner":
	case "help", "-h", "--help":
		printUsage(stdout)
		return nil
	default:
		printUsage(stderr)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	log := observe.NewLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	switch cmd {
	case "scanner":
		return app.Scanner(ctx, app.ScannerOptions{Addr: *scanListen, Trivy: *scanTrivy, CacheDir: *scanCache}, log)
	case "migrate":
		return app.Migrate(ctx, cfg, log)
	case "fsck":
		return app.Fsck(ctx, cfg, log, fsck.Options{Rehash: *rehash, Orphans: *orphans}, stdout)
	case "gc":
		g := time.Duration(-1)
		if *grace != "" {
			if g, err = time.ParseDuration(*grace); err != nil || g < 0 {
				return fmt.Errorf("--grace %q: want a duration such as 24h or 30s", *grace)
			}
		}
		return app.GC(ctx, cfg, log, app.GCOptions{DryRun: *dryRun, Grace: g}, stdout)
	}
	return app.Serve(ctx, cfg, log, nil)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	for _, l := range config.EnvTable() {
		name, doc, _ := strings.Cut(l, "\t")
		fmt.Fprintf(w, "  %-40s %s\n", name, doc)
	}
}
