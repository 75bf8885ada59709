package replication_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/app/apptest"
)

func pushRandom(t *testing.T, refStr string, size int64, layers int, opts ...remote.Option) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, refStr), img, opts...); err != nil {
		t.Fatalf("push %s: %v", refStr, err)
	}
	return img
}

// TestPeerPullReplication pulls from Distribution into Berth with a name
// pattern, a tag exclusion and a destination namespace that flattens one
// level; the destination project is created.
func TestPeerPullReplication(t *testing.T) { apptest.ForEachConfig(t, testPeerPull) }

func testPeerPull(t *testing.T, a *apptest.Server) {
	dist := startDistribution(t, t.TempDir(), 0)
	want := map[string]v1.Image{}
	for _, r := range []string{"lib/a:1", "lib/a:2-rc", "lib/b:1", "lib/sub/c:1", "other/d:1"} {
		want[r] = pushRandom(t, dist.Addr+"/"+r, 2048, 2)
	}
	src := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	pid := idFrom(t, rest(t, a, http.MethodPost, "replication/policies", map[string]any{
		"name": "pull", "src_registry": map[string]any{"id": src}, "dest_namespace": "mirror",
		"dest_namespace_replace_count": 1, "trigger": map[string]any{"type": "manual"}, "enabled": true,
		"filters": []map[string]any{
			{"type": "name", "value": "lib/**"},
			{"type": "tag", "value": "*-rc", "decoration": "excludes"},
		},
	}, http.StatusCreated))
	e := waitExecution(t, a, startExecution(t, a, pid), 2*time.Minute)
	if e.Status != "Succeed" || e.Total != 3 {
		t.Fatalf("execution: %+v\n%s", e, taskLogs(t, a, e.ID))
	}
	for src, dst := range map[string]string{"lib/a:1": "mirror/a:1", "lib/b:1": "mirror/b:1", "lib/sub/c:1": "mirror/sub/c:1"} {
		d, _ := want[src].Digest()
		if got := digestOf(t, a.Addr+"/"+dst, adminAuth); got != d.String() {
			t.Errorf("%s: %s, want %s", dst, got, d)
		}
	}
	for _, absent := range []string{"mirror/a:2-rc", "mirror/d:1", "other/d:1"} {
		if _, err := remote.Head(ref(t, a.Addr+"/"+absent), adminAuth); err == nil {
			t.Errorf("%s was replicated", absent)
		}
	}
	// The project was created, private.
	r := rest(t, a, http.MethodGet, "projects/mirror", nil, http.StatusOK)
	if !strings.Contains(string(r.Body), `"public":"false"`) {
		t.Errorf("project mirror: %s", r.Body)
	}
}

// TestPeerStopExecution stops an execution whose tasks are held to a
// slow bandwidth limit: it ends Stopped within seconds.
func TestPeerStopExecution(t *testing.T) {
	dist := startDistribution(t, t.TempDir(), 0)
	a := apptest.Start(t)
	for _, tag := range []string{"1", "2", "3", "4", "5", "6"} {
		pushRandom(t, a.Addr+"/library/big:"+tag, 1<<20, 1, adminAuth)
	}
	dst := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	pid := pushPolicy(t, a, "slow", dst, nil, map[string]any{"speed": 32}) // KB/s: 30 s an image
	id := startExecution(t, a, pid)
	deadline := time.Now().Add(time.Minute)
	for {
		e := getExecution(t, a, id)
		if e.Total > 0 && e.InProgress > 0 && taskRunning(t, a, id) {
			break
		}
		if e.Status != "InProgress" || time.Now().After(deadline) {
			t.Fatalf("no task started: %+v", e)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // bytes flowing
	stopAt := time.Now()
	rest(t, a, http.MethodPut, "replication/executions/"+itoa(id), nil, http.StatusOK)
	e := waitExecution(t, a, id, 10*time.Second)
	took := time.Since(stopAt)
	if e.Status != "Stopped" || e.Stopped == 0 || e.Succeed == e.Total {
		t.Fatalf("after stop: %+v\n%s", e, taskLogs(t, a, id))
	}
	if took > 5*time.Second {
		t.Errorf("stop took %s, want a few seconds at most", took)
	}
	t.Logf("stopped in %s: %+v", took.Round(time.Millisecond), e)
	rest(t, a, http.MethodPut, "replication/executions/"+itoa(id), nil, http.StatusPreconditionFailed)
}

func taskRunning(t *testing.T, srv *apptest.Server, id int64) bool {
	t.Helper()
	var tasks []struct {
		Status string `json:"status"`
	}
	srv.REST(t, http.MethodGet, "replication/executions/"+itoa(id)+"/tasks?status=InProgress", nil).Decode(t, &tasks)
	return len(tasks) > 0
}

// TestPeerDestinationKilled kills the destination (SIGKILL) in the middle
// of a blob upload and starts it again: the task's failed attempt is
// retried with backoff and completes; a re-run changes nothing; the
// digests on the destination equal the source's.
func TestPeerDestinationKilled(t *testing.T) {
	dir := t.TempDir()
	dist := startDistribution(t, dir, 0)
	a := apptest.Start(t)
	img := pushRandom(t, a.Addr+"/library/big:1", 4<<20, 2, adminAuth)
	dst := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	pid := pushPolicy(t, a, "to-dist", dst, nil, map[string]any{"speed": 1024}) // 1 MB/s: about 8 s
	id := startExecution(t, a, pid)
	deadline := time.Now().Add(time.Minute)
	for !uploading(t, dist) {
		if time.Now().After(deadline) {
			t.Fatal("no upload reached the destination")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	dist.kill()
	if e := getExecution(t, a, id); e.Status != "InProgress" {
		t.Fatalf("the execution finished before the destination was killed: %+v", e)
	}
	time.Sleep(500 * time.Millisecond)
	dist = startDistribution(t, dir, dist.port())
	e := waitExecution(t, a, id, 3*time.Minute)
	logs := taskLogs(t, a, id)
	if e.Status != "Succeed" {
		t.Fatalf("execution after the destination came back: %+v\n%s", e, logs)
	}
	if !strings.Contains(logs, "will retry") {
		t.Errorf("no failed attempt was logged:\n%s", logs)
	}
	again := waitExecution(t, a, startExecution(t, a, pid), 2*time.Minute)
	if again.Status != "Succeed" {
		t.Fatalf("re-run: %+v\n%s", again, taskLogs(t, a, again.ID))
	}
	d, _ := img.Digest()
	if got := digestOf(t, dist.Addr+"/library/big:1"); got != d.String() {
		t.Errorf("destination digest %s, want %s", got, d)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		ld, _ := l.Digest()
		rl, err := remote.Layer(ref(t, dist.Addr+"/library/big@"+ld.String()).Context().Digest(ld.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := rl.Digest(); err != nil || got != ld {
			t.Errorf("layer %s: %v %v", ld, got, err)
		}
		if _, err := rl.Compressed(); err != nil {
			t.Errorf("layer %s unreadable on the destination: %v", ld, err)
		}
	}
}

// uploading reports whether the destination's log shows a blob upload.
func uploading(t *testing.T, d *distribution) bool {
	t.Helper()
	b, err := os.ReadFile(d.log)
	// Lines are written when a request ends: the POST that starts an
	// upload is there while its PATCH still streams.
	return err == nil && strings.Contains(string(b), "POST /v2/library/big/blobs/uploads/")
}

// TestPeerChunkedCopy: with copy_by_chunk, a large blob goes up in
// chunks; the destination killed in the middle and started again is asked
// where the upload stands. Distribution 2.8 answers 404 for an upload
// interrupted mid-chunk, so there the task's next attempt copies the blob
// again; either way the copy completes with identical digests.
func TestPeerChunkedCopy(t *testing.T) {
	dir := t.TempDir()
	dist := startDistribution(t, dir, 0)
	a := apptest.Start(t)
	img := pushRandom(t, a.Addr+"/library/huge:1", 20<<20, 1, adminAuth)
	dst := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	pid := pushPolicy(t, a, "chunks", dst, nil, map[string]any{"copy_by_chunk": true, "speed": 4096}) // 4 MB/s
	id := startExecution(t, a, pid)
	deadline := time.Now().Add(time.Minute)
	for !uploadingRepo(t, dist, "huge") {
		if time.Now().After(deadline) {
			t.Fatal("no upload reached the destination")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // a few chunks in
	dist.kill()
	time.Sleep(500 * time.Millisecond)
	dist = startDistribution(t, dir, dist.port())
	e := waitExecution(t, a, id, 3*time.Minute)
	logs := taskLogs(t, a, id)
	if e.Status != "Succeed" {
		t.Fatalf("execution: %+v\n%s", e, logs)
	}
	if !strings.Contains(logs, "in chunks (") || !strings.Contains(logs, "asking the destination where to resume") {
		t.Errorf("the blob was not copied in chunks, or the failure was not seen:\n%s", logs)
	}
	d, _ := img.Digest()
	if _, err := pullAll(t, dist.Addr+"/library/huge:1"); err != nil || digestOf(t, dist.Addr+"/library/huge:1") != d.String() {
		t.Errorf("the destination's copy: %v", err)
	}
	t.Logf("%s", logs)
}

func uploadingRepo(t *testing.T, d *distribution, repo string) bool {
	t.Helper()
	b, err := os.ReadFile(d.log)
	return err == nil && strings.Contains(string(b), "POST /v2/library/"+repo+"/blobs/uploads/")
}

// TestPeerBandwidthLimit: a policy's speed (KB/s) bounds what a task
// sends: 2 MiB of incompressible layers at 256 KB/s take at least 7 s, so
// the measured rate stays under the limit (with the limiter's one-second
// burst, and a margin of half the limit).
func TestPeerBandwidthLimit(t *testing.T) {
	dist := startDistribution(t, t.TempDir(), 0)
	a := apptest.Start(t)
	pushRandom(t, a.Addr+"/library/limited:1", 1<<20, 2, adminAuth)
	dst := addRegistry(t, a, "dist", "docker-registry", "http://"+dist.Addr, "", "")
	const kbps = 256
	pid := pushPolicy(t, a, "limited", dst, nil, map[string]any{"speed": kbps})
	start := time.Now()
	e := waitExecution(t, a, startExecution(t, a, pid), 2*time.Minute)
	took := time.Since(start)
	if e.Status != "Succeed" || e.Bytes < 2<<20 {
		t.Fatalf("execution: %+v\n%s", e, taskLogs(t, a, e.ID))
	}
	rate := float64(e.Bytes) / took.Seconds() / 1024
	t.Logf("%d bytes in %s: %.0f KiB/s with a limit of %d KiB/s", e.Bytes, took.Round(time.Millisecond), rate, kbps)
	if rate > kbps*1.5 {
		t.Errorf("sent at %.0f KiB/s, above the %d KiB/s limit (x1.5)", rate, kbps)
	}
}
