// Command ociverdict prints the verdict of an OCI conformance run from its
// results directory, for scripts/test:
//
//	go run ./internal/testenv/ociverdict [-peer] RESULTS_DIR
//
// It prints one summary line ("N pass, F fail, ..."), then the failed test
// cases on stderr, and exits 0 when the run passed, 1 when it failed (or,
// with -peer, only when no report was written), 2 on bad usage.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/berth-registry/berth/internal/testenv"
)

func main() {
	peer := flag.Bool("peer", false, "failures are expected (a peer registry): fail only without a report")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: ociverdict [-peer] RESULTS_DIR")
		os.Exit(2)
	}
	r, err := testenv.ReadConformance(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ociverdict:", err)
		os.Exit(1)
	}
	fmt.Println(r)
	for _, name := range r.Failed {
		fmt.Fprintln(os.Stderr, "failed:", name)
	}
	if !r.OK() && !*peer {
		os.Exit(1)
	}
}
