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
  backup    snapshot metadata and blobs: backup --to DIR|s3://bucket/prefix
            backup verify --from LOC [--snapshot ID]; backup list --from LOC
  restore   restore --from LOC [--snapshot ID] [--force] into the configured database and storage
  scanner   serve the built-in scanner adapter (Harbor's Pluggable Scanner API, Trivy offline)
            [--listen 127.0.0.1:8090] --trivy PATH --trivy-cache DIR
  version   print the version
  probe     check a running Berth: probe http(s)://host[:port] (helm test, health checks)

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
	if cmd == "backup" && len(args) > 0 && (args[0] == "verify" || args[0] == "list") {
		cmd, args = "backup "+args[0], args[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", getenv("BERTH_CONFIG"), "YAML configuration file (optional)")
	rehash := fs.Bool("rehash", false, "fsck: read every blob and verify its digest")
	orphans := fs.Bool("orphans", false, "fsck: also list stored objects no blob owns")
	dryRun := fs.Bool("dry-run", false, "gc: list what would be deleted, delete nothing")
	grace := fs.String("grace", "", "gc: keep unreferenced blobs this long (default: gc.grace, 24h)")
	bo := backupFlags(fs)
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
	case "probe":
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: berth probe http(s)://host[:port]")
		}
		return probe(ctx, fs.Arg(0), stdout)
	case "serve", "migrate", "fsck", "gc", "backup", "backup verify", "backup list", "restore", "scanner":
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
	case "backup":
		_, err := app.Backup(ctx, cfg, log, bo.options(bo.to), stdout, stderr)
		return err
	case "backup verify":
		return app.BackupVerify(ctx, cfg, log, bo.options(bo.from), stdout, stderr)
	case "backup list":
		return app.BackupList(ctx, cfg, bo.options(bo.from), stdout)
	case "restore":
		_, err := app.Restore(ctx, cfg, log, bo.options(bo.from), stdout, stderr)
		return err
	}
	return app.Serve(ctx, cfg, log, nil)
}

type backupArgs struct {
	to, from, snapshot *string
	force              *bool
	workers            *int
}

func backupFlags(fs *flag.FlagSet) backupArgs {
	return backupArgs{
		to:       fs.String("to", "", "backup: where to write the snapshot (DIR or s3://bucket/prefix)"),
		from:     fs.String("from", "", "backup verify/list, restore: the backup repository (DIR or s3://bucket/prefix)"),
		snapshot: fs.String("snapshot", "", "backup verify, restore: snapshot id (default: the newest)"),
		force:    fs.Bool("force", false, "restore: replace the content of a database that is not empty"),
		workers:  fs.Int("workers", 4, "backup, verify, restore: blobs copied at once"),
	}
}

func (b backupArgs) options(loc *string) app.BackupOptions {
	return app.BackupOptions{Location: *loc, Snapshot: *b.snapshot, Force: *b.force, Workers: *b.workers}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	for _, l := range config.EnvTable() {
		name, doc, _ := strings.Cut(l, "\t")
		fmt.Fprintf(w, "  %-40s %s\n", name, doc)
	}
}
