package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// bigPulls is how many times each big layer is pulled: a pull takes a
// fifth of a second, so single pulls were the noisiest row.
const bigPulls = 3

// Options size the run. Defaults (DefaultOptions) keep it to about ten
// minutes on two cores; the full sizes are in FullOptions.
type Options struct {
	Servers        []string          // berth, dist3, dist2.8
	Binaries       map[string]string // server name -> binary
	Dir            string            // scratch directory (data, layers, logs)
	BigMiB         int64             // big layer size
	BigRuns        int               // median of this many
	SmallImages    int
	SmallClients   int
	WrkDuration    time.Duration
	WrkThreads     int
	WrkConnections int
	WrkRounds      int // interleaved rounds; the median is kept
	Tags           int // tags at the end of the tag workload (>= 10k to get the 10k row)
	CatalogRepos   int
	S3             bool // also the S3 rows (needs SeaweedFS: SeaweedFS script)
	SeaweedFS      string
	// BerthEnv is added to Berth's environment (e.g. BERTH_DEBUG_ADDR).
	BerthEnv []string
	// Workloads, when not empty, runs only these of big, small, get, tags
	// and catalog ("get" needs "small"'s images; "catalog" pushes the tag
	// image itself).
	Workloads []string
	Log       io.Writer
}

// DefaultOptions is the bounded run.
func DefaultOptions() Options {
	return Options{
		Servers: []string{"berth", "dist3", "dist2.8"}, BigMiB: 256, BigRuns: 3,
		SmallImages: 50, SmallClients: 4, WrkDuration: 5 * time.Second, WrkThreads: 2,
		WrkConnections: 32, WrkRounds: 2, Tags: 10000, CatalogRepos: 2000, S3: true,
	}
}

// Results maps metric -> server -> value.
type Results map[string]map[string]float64

func (r Results) set(metric, server string, v float64) {
	if r[metric] == nil {
		r[metric] = map[string]float64{}
	}
	r[metric][server] = v
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "bench: "+format+"\n", args...)
	}
}

// Run starts the servers on the filesystem, runs every workload on each
// in turn (workload by workload, so that noise from the shared machine
// falls on all of them alike), then the S3 rows.
func Run(ctx context.Context, o Options) (Results, error) {
	res := Results{}
	var servers []*Server
	// Data is left for the caller to remove with the scratch directory:
	// deleting a peer's tree of 10,000 tags takes minutes.
	defer func() {
		for _, s := range servers {
			s.Stop()
		}
	}()
	for _, name := range o.Servers {
		s, err := Start(ctx, ServerSpec{Name: name, Binary: o.Binaries[name], DataDir: filepath.Join(o.Dir, name), Env: berthEnv(name, o)})
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
	}
	time.Sleep(2 * time.Second) // let start-up allocations settle
	clients := map[string]*client{}
	for _, s := range servers {
		now, _ := s.RSSMiB()
		res.set("rss_start", s.Name, now)
		clients[s.Name] = newClient(s)
		o.logf("%s up at %s, RSS %.1f MiB", s.Name, s.URL, now)
	}
	peak := func(stage string) {
		for _, s := range servers {
			_, p := s.RSSMiB()
			res.set("rss_peak", s.Name, p)
			o.logf("%s peak RSS after %s: %.1f MiB", s.Name, stage, p)
		}
	}
	each := func(what string, fn func(s *Server, c *client) error) error {
		for _, s := range servers {
			o.logf("%s: %s", s.Name, what)
			if err := fn(s, clients[s.Name]); err != nil {
				return fmt.Errorf("%s on %s: %w", what, s.Name, err)
			}
		}
		peak(what)
		return nil
	}

	size := o.BigMiB << 20
	if o.want("big") {
		// Run by run, server after server (not all runs of one server,
		// then the next): a slow minute on the shared machine then falls
		// on one run of each server, and the medians stay comparable.
		what := fmt.Sprintf("big push/pull %d MiB x%d", o.BigMiB, o.BigRuns)
		pushes, pulls := map[string][]float64{}, map[string][]float64{}
		for run := range o.BigRuns {
			for _, s := range servers {
				o.logf("%s: %s, run %d", s.Name, what, run+1)
				push, pull, err := bigPushPull(ctx, clients[s.Name], "library/big", size, 1000+uint64(run), bigPulls, nil)
				if err != nil {
					return res, fmt.Errorf("%s on %s: %w", what, s.Name, err)
				}
				pushes[s.Name] = append(pushes[s.Name], push)
				pulls[s.Name] = append(pulls[s.Name], pull...)
			}
		}
		for _, s := range servers {
			res.set("big_push", s.Name, median(pushes[s.Name]))
			res.set("big_pull", s.Name, median(pulls[s.Name]))
		}
		peak(what)
		// What the disk gives any server that fsyncs: the ceiling of the
		// big push with fsync on, in the same run.
		v, err := diskCeiling(o.Dir, size, o.BigRuns)
		if err != nil {
			return res, err
		}
		res.set("disk_fsync_write", "machine", v)
		o.logf("disk: %d MiB written and fsynced at %.0f MB/s (median of %d)", o.BigMiB, v, o.BigRuns)
	}
	if o.want("small") {
		if err := each(fmt.Sprintf("%d small images by %d clients", o.SmallImages, o.SmallClients), func(s *Server, c *client) error {
			v, err := smallImages(ctx, c, o.SmallImages, o.SmallClients, 5000)
			res.set("small_images", s.Name, v)
			return err
		}); err != nil {
			return res, err
		}

	}
	if o.want("get") {
		// Manifest GETs and blob HEADs, interleaved rounds.
		manifestPath := "/v2/library/small-000/manifests/latest"
		layer := newBlob(5000+1, 4<<10)
		headers := map[string]map[string]string{} // server -> kind -> header
		for _, s := range servers {
			headers[s.Name] = map[string]string{"anon": ""}
			if s.User != "" {
				headers[s.Name]["basic"] = "Authorization: Basic " + basic(s.User, s.Password)
				tok, err := clients[s.Name].token(ctx, "repository:library/small-000:pull")
				if err != nil {
					return res, err
				}
				headers[s.Name]["bearer"] = "Authorization: Bearer " + tok
			}
		}
		samples := map[string]map[string][]wrkResult{}
		for round := range o.WrkRounds {
			for _, s := range servers {
				for _, kind := range []string{"anon", "basic", "bearer"} {
					h, ok := headers[s.Name][kind]
					if !ok {
						continue
					}
					r, err := runWrk(ctx, o.Dir, s.URL+manifestPath, "GET", h, o)
					if err != nil {
						return res, fmt.Errorf("%s manifest GET %s: %w", s.Name, kind, err)
					}
					o.logf("%s round %d manifest GET %s: %.0f req/s p50 %.2f ms p99 %.2f ms", s.Name, round, kind, r.RPS, r.P50, r.P99)
					addSample(samples, "get_"+kind, s.Name, r)
				}
				r, err := runHEAD(ctx, clients[s.Name], "/v2/library/small-000/blobs/"+layer.dgst, o.WrkConnections, o.WrkDuration)
				if err != nil {
					return res, fmt.Errorf("%s blob HEAD: %w", s.Name, err)
				}
				o.logf("%s round %d blob HEAD: %.0f req/s p50 %.2f ms p99 %.2f ms", s.Name, round, r.RPS, r.P50, r.P99)
				addSample(samples, "head_blob", s.Name, r)
			}
		}
		for metric, by := range samples {
			for server, rs := range by {
				var rps, p50, p99 []float64
				for _, r := range rs {
					rps, p50, p99 = append(rps, r.RPS), append(p50, r.P50), append(p99, r.P99)
				}
				res.set(metric+"_rps", server, median(rps))
				res.set(metric+"_p50", server, median(p50))
				res.set(metric+"_p99", server, median(p99))
			}
		}
		peak("manifest GET and blob HEAD")

	}
	// Tags on one repository.
	tcfg, tlayer := newBlob(9000, 1024), newBlob(9001, 2048)
	tmanifest := imageManifest(tcfg, tlayer)
	if o.want("tags") || o.want("catalog") {
		if err := each("tag image", func(s *Server, c *client) error {
			return pushImage(ctx, c, "library/tags", "base", 9000, []int64{2048})
		}); err != nil {
			return res, err
		}
	}
	if o.want("tags") {
		steps := []int{min(10000, o.Tags)}
		if o.Tags > 10000 {
			steps = append(steps, o.Tags)
		}
		from := 0
		for _, upto := range steps {
			if err := each(fmt.Sprintf("tag PUT %d..%d", from, upto), func(s *Server, c *client) error {
				first, last, err := putTags(ctx, c, "library/tags", tmanifest, from, upto, o.SmallClients, func(end int, rate float64) {
					o.logf("%s: tags up to %d: %.0f tags/s", s.Name, end, rate)
				})
				if from == 0 {
					res.set("tagput_first", s.Name, first)
				}
				res.set("tagput_last", s.Name, last)
				if err != nil {
					return err
				}
				p50, n, err := listP50(ctx, c, "/v2/library/tags/tags/list", "tags", 0, 5)
				res.set(fmt.Sprintf("tagslist_%d", upto), s.Name, p50)
				o.logf("%s: %d tags, tag PUT %.0f/s first 1k, %.0f/s last 1k, tags/list p50 %.1f ms", s.Name, n, first, last, p50)
				if err != nil {
					return err
				}
				// The first page alone (without n: a server's default
				// page, every tag for Distribution).
				p50, n, err = listP50(ctx, c, "/v2/library/tags/tags/list", "tags", 1, 5)
				res.set(fmt.Sprintf("tagslist_first_%d", upto), s.Name, p50)
				o.logf("%s: tags/list first page (%d tags) p50 %.1f ms", s.Name, n, p50)
				return err
			}); err != nil {
				return res, err
			}
			from = upto
		}
	}
	if o.want("catalog") {
		if err := each(fmt.Sprintf("_catalog at %d repositories", o.CatalogRepos), func(s *Server, c *client) error {
			t0 := time.Now()
			if err := makeRepos(ctx, c, "library/tags", tcfg, tlayer, tmanifest, o.CatalogRepos, o.SmallClients); err != nil {
				return err
			}
			o.logf("%s: made %d repositories in %s", s.Name, o.CatalogRepos, time.Since(t0).Round(time.Millisecond))
			p50, n, err := listP50(ctx, c, "/v2/_catalog?n=1000", "repositories", 0, 5)
			res.set("catalog", s.Name, p50)
			o.logf("%s: _catalog of %d repositories p50 %.1f ms", s.Name, n, p50)
			return err
		}); err != nil {
			return res, err
		}
	}
	for _, s := range servers {
		s.Stop()
	}
	servers = nil

	if o.S3 {
		if err := runS3(ctx, o, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// want reports whether workload w is to run.
func (o Options) want(w string) bool {
	return len(o.Workloads) == 0 || slices.Contains(o.Workloads, w)
}

// IsBerth reports whether server name is a Berth: "berth", or "berth-"
// and a label for a second binary measured beside it (an A/B run).
func IsBerth(name string) bool { return name == "berth" || strings.HasPrefix(name, "berth-") }

func berthEnv(name string, o Options) []string {
	if IsBerth(name) {
		return o.BerthEnv
	}
	return nil
}

func addSample(m map[string]map[string][]wrkResult, metric, server string, r wrkResult) {
	if m[metric] == nil {
		m[metric] = map[string][]wrkResult{}
	}
	m[metric][server] = append(m[metric][server], r)
}

// runS3 starts one SeaweedFS and measures the big push/pull of Berth and
// Distribution 2.8 on it (each under its own key prefix), and the same
// layers sent straight to the store (the ceiling). All of them run at
// once and take turns layer by layer, so that noise from the shared
// machine falls on all of them alike.
func runS3(ctx context.Context, o Options, res Results) error {
	dir := filepath.Join(o.Dir, "s3")
	out, err := exec.CommandContext(ctx, o.SeaweedFS, "start", dir, "bench").Output()
	if err != nil {
		return fmt.Errorf("start SeaweedFS: %w", err)
	}
	defer func() { _ = exec.Command(o.SeaweedFS, "stop", dir).Run() }()
	// http://KEY:SECRET@127.0.0.1:PORT/BUCKET
	u := strings.TrimSpace(string(out))
	rest := strings.TrimPrefix(u, "http://")
	creds, hostBucket, _ := strings.Cut(rest, "@")
	key, secret, _ := strings.Cut(creds, ":")
	host, bucket, _ := strings.Cut(hostBucket, "/")
	s3 := &S3{Endpoint: "http://" + host, Bucket: bucket, Key: key, Secret: secret}
	weedPID := 0
	if b, err := os.ReadFile(filepath.Join(dir, "weed.pid")); err == nil {
		weedPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	type run struct {
		s          *Server
		c          *client
		m          *cpuMeter
		push, pull []float64
	}
	var runs []*run
	defer func() {
		for _, r := range runs {
			r.s.Stop()
		}
	}()
	for _, name := range o.Servers {
		if name == "dist3" { // the S3 target compares with Distribution 2.8
			continue
		}
		s, err := Start(ctx, ServerSpec{Name: name, Binary: o.Binaries[name], S3: s3, Prefix: "bench-" + name,
			DataDir: filepath.Join(o.Dir, name+"-s3"), Env: berthEnv(name, o)})
		if err != nil {
			return err
		}
		runs = append(runs, &run{s: s, c: newClient(s), m: newCPUMeter(weedPID, s.PID())})
	}
	// The ceiling in Berth's default part size.
	direct := newDirectPut(s3, o.BigMiB<<20, 10<<20, weedPID)
	for i := range o.BigRuns {
		seed := 2000 + uint64(i)
		o.logf("S3 layer %d of %d: straight to the store, then %d registries", i+1, o.BigRuns, len(runs))
		if err := direct.once(ctx, seed); err != nil {
			return err
		}
		for _, r := range runs {
			push, pulls, err := bigPushPull(ctx, r.c, "library/big", o.BigMiB<<20, seed, bigPulls, r.m)
			if err != nil {
				return fmt.Errorf("S3 big push/pull on %s: %w", r.s.Name, err)
			}
			r.push, r.pull = append(r.push, push), append(r.pull, pulls...)
		}
	}
	rate, weedCPU := direct.best(o)
	res.set("s3_direct", "berth", rate)
	res.set("s3_direct_weed_cpu", "berth", weedCPU)
	for _, r := range runs {
		name := r.s.Name
		_, p := r.s.RSSMiB()
		push, pull := median(r.push), median(r.pull)
		res.set("s3_push", name, push)
		res.set("s3_pull", name, pull)
		res.set("s3_rss_peak", name, p)
		res.set("s3_push_weed_cpu", name, r.m.perOp(0))
		res.set("s3_push_cpu", name, r.m.perOp(1))
		o.logf("%s on S3: push %.1f MB/s (CPU per push: SeaweedFS %.2f s, %s %.2f s), pull %.1f MB/s, peak RSS %.1f MiB",
			name, push, r.m.perOp(0), name, r.m.perOp(1), pull, p)
	}
	return nil
}

func basic(user, pass string) string {
	return base64Encode(user + ":" + pass)
}

// Row is one line of the table.
type Row struct {
	Metric, Label, Unit string
	Higher              bool   // higher is better
	Base                string // metric of dist3 to compare with ("" = same metric)
	Target              string // human-readable target
	Check               func(r Results) (ok, known bool)
}

func ratio(r Results, metric, base, server, peer string) float64 {
	if base == "" {
		base = metric
	}
	a, b := r[metric][server], r[base][peer]
	if a == 0 || b == 0 {
		return math.NaN()
	}
	return a / b
}

// Rows is the table's layout with the targets.
func Rows() []Row {
	ge := func(metric, base string, want float64) func(Results) (bool, bool) {
		return func(r Results) (bool, bool) {
			x := ratio(r, metric, base, "berth", "dist3")
			return x >= want, !math.IsNaN(x)
		}
	}
	le := func(metric string, max float64) func(Results) (bool, bool) {
		return func(r Results) (bool, bool) {
			v, ok := r[metric]["berth"]
			return ok && v <= max, ok
		}
	}
	return []Row{
		{Metric: "big_push", Label: "big push (256 MiB layer, median of the runs)", Unit: "MB/s", Higher: true, Target: ">= 1.6x dist3", Check: ge("big_push", "", 1.6)},
		{Metric: "big_pull", Label: "big pull", Unit: "MB/s", Higher: true, Target: ">= 1.2x dist3", Check: ge("big_pull", "", 1.2)},
		{Metric: "small_images", Label: "small images (3 layers, 4 clients)", Unit: "images/s", Higher: true, Target: ">= 2x dist3", Check: ge("small_images", "", 2)},
		{Metric: "get_anon_rps", Label: "manifest GET by tag, anonymous", Unit: "req/s", Higher: true, Target: ">= 2.5x dist3", Check: ge("get_anon_rps", "", 2.5)},
		{Metric: "get_anon_p50", Label: "  p50", Unit: "ms"},
		{Metric: "get_anon_p99", Label: "  p99", Unit: "ms", Target: "<= dist3", Check: func(r Results) (bool, bool) {
			x := ratio(r, "get_anon_p99", "", "berth", "dist3")
			return x <= 1, !math.IsNaN(x)
		}},
		{Metric: "get_bearer_rps", Label: "manifest GET by tag, Bearer (vs dist3 anonymous)", Unit: "req/s", Higher: true, Base: "get_anon_rps", Target: ">= 2x dist3", Check: ge("get_bearer_rps", "get_anon_rps", 2)},
		{Metric: "get_bearer_p50", Label: "  p50", Unit: "ms", Base: "get_anon_p50"},
		{Metric: "get_bearer_p99", Label: "  p99", Unit: "ms", Base: "get_anon_p99"},
		{Metric: "get_basic_rps", Label: "manifest GET by tag, Basic (vs dist3 anonymous)", Unit: "req/s", Higher: true, Base: "get_anon_rps", Target: ">= 1.5x dist3", Check: ge("get_basic_rps", "get_anon_rps", 1.5)},
		{Metric: "get_basic_p50", Label: "  p50", Unit: "ms", Base: "get_anon_p50"},
		{Metric: "get_basic_p99", Label: "  p99", Unit: "ms", Base: "get_anon_p99"},
		{Metric: "head_blob_rps", Label: "blob HEAD (Go client; Basic for berth)", Unit: "req/s", Higher: true},
		{Metric: "head_blob_p99", Label: "  p99", Unit: "ms"},
		{Metric: "tagput_first", Label: "tag PUT rate, first 1k tags", Unit: "tags/s", Higher: true, Target: ">= 1.5x dist3", Check: ge("tagput_first", "", 1.5)},
		{Metric: "tagput_last", Label: "tag PUT rate, last 1k tags", Unit: "tags/s", Higher: true, Target: "flat; >= 1.5x dist3", Check: ge("tagput_last", "", 1.5)},
		{Metric: "tagslist_10000", Label: "tags/list p50 at 10k tags", Unit: "ms"},
		{Metric: "tagslist_first_10000", Label: "tags/list first page p50 at 10k tags (no n)", Unit: "ms"},
		{Metric: "tagslist_100000", Label: "tags/list p50 at 100k tags", Unit: "ms", Target: "< 30 ms", Check: le("tagslist_100000", 30)},
		{Metric: "tagslist_first_100000", Label: "tags/list first page p50 at 100k tags (no n)", Unit: "ms"},
		{Metric: "catalog", Label: "_catalog p50 (all pages, n=1000)", Unit: "ms"},
		{Metric: "rss_start", Label: "RSS at start", Unit: "MiB", Target: "<= 50 MiB", Check: le("rss_start", 50)},
		{Metric: "rss_peak", Label: "RSS peak over the run", Unit: "MiB", Target: "<= 80 MiB", Check: le("rss_peak", 80)},
		{Metric: "s3_push", Label: "S3 big push (SeaweedFS)", Unit: "MB/s", Higher: true, Target: ">= 5x dist2.8", Check: func(r Results) (bool, bool) {
			x := ratio(r, "s3_push", "", "berth", "dist2.8")
			return x >= 5, !math.IsNaN(x)
		}},
		{Metric: "s3_push_weed_cpu", Label: "  SeaweedFS CPU per push", Unit: "s"},
		{Metric: "s3_push_cpu", Label: "  registry CPU per push", Unit: "s"},
		{Metric: "s3_direct", Label: "  ceiling: straight to SeaweedFS, no registry (berth's column; vs dist2.8's push)", Unit: "MB/s", Higher: true, Base: "s3_push"},
		{Metric: "s3_direct_weed_cpu", Label: "  SeaweedFS CPU per layer, straight", Unit: "s"},
		{Metric: "s3_pull", Label: "S3 big pull (SeaweedFS)", Unit: "MB/s", Higher: true},
		{Metric: "s3_rss_peak", Label: "S3 RSS peak", Unit: "MiB"},
	}
}

// Table renders the results as a Markdown table.
func Table(r Results) string {
	var b strings.Builder
	b.WriteString("| workload | unit | berth | dist3 | dist2.8 | berth/dist3 | berth/dist2.8 | target | met |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|---|---|\n")
	f := func(v float64, ok bool) string {
		switch {
		case !ok:
			return "-"
		case v >= 100:
			return fmt.Sprintf("%.0f", v)
		case v >= 10:
			return fmt.Sprintf("%.1f", v)
		default:
			return fmt.Sprintf("%.2f", v)
		}
	}
	for _, row := range Rows() {
		if _, ok := r[row.Metric]; !ok {
			continue
		}
		base := row.Base
		if base == "" {
			base = row.Metric
		}
		bv, bok := r[row.Metric]["berth"]
		d3, d3ok := r[base]["dist3"]
		d2, d2ok := r[base]["dist2.8"]
		r3, r2 := ratio(r, row.Metric, row.Base, "berth", "dist3"), ratio(r, row.Metric, row.Base, "berth", "dist2.8")
		met := ""
		if row.Check != nil {
			if ok, known := row.Check(r); known {
				met = map[bool]string{true: "yes", false: "**no**"}[ok]
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Label, row.Unit,
			f(bv, bok), f(d3, d3ok), f(d2, d2ok), f(r3, !math.IsNaN(r3)), f(r2, !math.IsNaN(r2)), row.Target, met)
	}
	return b.String()
}

// Machine describes this machine for the report.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/1024/1024)
	}
	return fmt.Sprintf("%s, %d logical CPUs%s", cpu, numCPU(), mem)
}
