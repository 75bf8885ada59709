package bench

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is the Markdown block for docs/benchmarks.md.
func Report(r Results, o Options, commit string, started time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (run took %s), commit `%s`, on %s.\n\n", started.UTC().Format("2006-01-02 15:04 UTC"),
		time.Since(started).Round(time.Second), commit, Machine())
	fmt.Fprintf(&b, "Sizes: big layer %d MiB x%d (each pulled %d times; runs interleaved across servers); %d small images by %d clients; wrk %s x%d rounds, %d connections, %d threads; %d tags; _catalog of %d repositories.\n\n",
		o.BigMiB, o.BigRuns, bigPulls, o.SmallImages, o.SmallClients, o.WrkDuration, o.WrkRounds, o.WrkConnections, o.WrkThreads, o.Tags, o.CatalogRepos)
	if v, ok := r["disk_fsync_write"]["machine"]; ok {
		fmt.Fprintf(&b, "Disk: %d MiB written and fsynced at %.0f MB/s (median of %d), the ceiling of a push made durable before it is acknowledged", o.BigMiB, v, o.BigRuns)
		if d3, ok := r["big_push"]["dist3"]; ok {
			fmt.Fprintf(&b, "; 1.6x Distribution v3's push (which does not fsync) would be %.0f MB/s", 1.6*d3)
		}
		b.WriteString(".\n\n")
	}
	b.WriteString(Table(r))
	return b.String()
}

const (
	beginMark = "<!-- bench:begin -->"
	endMark   = "<!-- bench:end -->"
)

// WriteReport replaces the block between the bench markers of path with
// report (or creates the file with just the block).
func WriteReport(path, report string) error {
	block := beginMark + "\n" + report + endMark
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i < 0 || j < i {
		s = strings.TrimRight(s, "\n")
		if s != "" {
			s += "\n\n"
		}
		return os.WriteFile(path, []byte(s+block+"\n"), 0o644)
	}
	return os.WriteFile(path, []byte(s[:i]+block+s[j+len(endMark):]), 0o644)
}

// AllServers is every measured figure, one row per metric and one column
// per server in the order given (an A/B run's second Berth included).
func AllServers(r Results, servers []string) string {
	var b strings.Builder
	b.WriteString("| metric | " + strings.Join(servers, " | ") + " |\n|---|")
	b.WriteString(strings.Repeat("--:|", len(servers)) + "\n")
	for _, m := range slices.Sorted(maps.Keys(r)) {
		if v, ok := r[m]["machine"]; ok { // a property of the machine, not of a server
			fmt.Fprintf(&b, "| %s (machine) | %.3g |%s\n", m, v, strings.Repeat(" |", len(servers)-1))
			continue
		}
		b.WriteString("| " + m + " |")
		for _, s := range servers {
			if v, ok := r[m][s]; ok {
				fmt.Fprintf(&b, " %.3g |", v)
			} else {
				b.WriteString(" - |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
