// Command berth-bench runs Berth's comparative benchmark (see
// internal/bench and scripts/bench/compare.sh).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/bench"
)

func main() {
	o := bench.DefaultOptions()
	berth := flag.String("berth", "", "berth binary")
	dist3 := flag.String("dist3", "", "Distribution v3 registry binary")
	dist28 := flag.String("dist28", "docker-registry", "Distribution 2.8 binary (Debian's docker-registry)")
	servers := flag.String("servers", strings.Join(o.Servers, ","), "servers to run")
	flag.StringVar(&o.Dir, "dir", os.TempDir(), "scratch directory")
	flag.StringVar(&o.SeaweedFS, "seaweedfs", "scripts/services/seaweedfs.sh", "SeaweedFS service script")
	flag.Int64Var(&o.BigMiB, "big-mib", o.BigMiB, "big layer size in MiB")
	flag.IntVar(&o.BigRuns, "big-runs", o.BigRuns, "big push/pull runs (median)")
	flag.IntVar(&o.SmallImages, "small-images", o.SmallImages, "small images")
	flag.IntVar(&o.Tags, "tags", o.Tags, "tags on one repository (100000 for the full run)")
	flag.IntVar(&o.CatalogRepos, "catalog-repos", o.CatalogRepos, "repositories for _catalog (10000 for the full run)")
	flag.DurationVar(&o.WrkDuration, "wrk-duration", o.WrkDuration, "each wrk run")
	flag.IntVar(&o.WrkRounds, "wrk-rounds", o.WrkRounds, "interleaved wrk rounds (median)")
	flag.IntVar(&o.WrkConnections, "wrk-connections", o.WrkConnections, "wrk connections")
	flag.BoolVar(&o.S3, "s3", o.S3, "also the S3 rows")
	berthB := flag.String("berth-b", "", "a second berth binary, measured beside the first as server berth-b (an A/B run; its figures are printed after the table)")
	workloads := flag.String("workloads", "", "only these of big,small,get,tags,catalog (get needs small)")
	env := flag.String("berth-env", "", "comma-separated KEY=VALUE added to Berth's environment")
	out := flag.String("out", "", "Markdown file whose bench block is replaced with the table")
	commit := flag.String("commit", "", "commit measured, for the report")
	flag.Parse()
	o.Servers = strings.Split(*servers, ",")
	o.Binaries = map[string]string{"berth": *berth, "dist3": *dist3, "dist2.8": *dist28}
	if *berthB != "" {
		o.Servers = append(o.Servers, "berth-b")
		o.Binaries["berth-b"] = *berthB
	}
	if *workloads != "" {
		o.Workloads = strings.Split(*workloads, ",")
	}
	if *env != "" {
		o.BerthEnv = strings.Split(*env, ",")
	}
	o.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	res, err := bench.Run(ctx, o)
	report := bench.Report(res, o, *commit, started)
	fmt.Print(report)
	if *berthB != "" {
		fmt.Print("\nAll servers (berth-b: " + *berthB + "):\n\n" + bench.AllServers(res, o.Servers))
	}
	if *out != "" {
		if werr := bench.WriteReport(*out, report); werr != nil {
			fmt.Fprintln(os.Stderr, "berth-bench:", werr)
			os.Exit(1)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-bench:", err)
		os.Exit(1)
	}
}
