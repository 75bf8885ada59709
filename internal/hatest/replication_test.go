package hatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testenv"
)

// TestHAReplicationReplicaKilled: a replication task runs on one of two
// replicas (a push to Debian's docker-registry held to 256 KB/s), and that
// replica is SIGKILLed in the middle of the copy. Its lease on the task is
// no longer renewed; the other replica takes the task back and copies the
// image; the execution ends Succeed and the destination holds the source's
// digests.
func TestHAReplicationReplicaKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("HA test starts a whole cluster; skipped with -short")
	}
	registryBin := testenv.RequireBinary(t, "docker-registry")
	c := StartCluster(t, Options{Replicas: 2, Volumes: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()

	// The destination: Distribution 2.8 on a free port, its access log in
	// its log file.
	dest := fmt.Sprintf("127.0.0.1:%d", c.ports.pick(t, false))
	cfg := filepath.Join(c.Dir, "registry.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(c.Dir, "registry-data"), dest)), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := c.newProc("registry", registryBin, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.Dir}, "serve", cfg)
	c.mustStart(reg)
	c.mustWait(ctx, "registry", reg, func(ctx context.Context) error { return getOK(ctx, "http://"+dest+"/v2/") })

	// The source image: two layers of 3 MiB, pushed through haproxy.
	im := image{repo: "library/repl", tag: "v1", seed: 42, layerSizes: []int{3 << 20, 3 << 20}}
	b := im.build()
	if err := newRegClient().pushImage(ctx, c.URL, im, b, "push"); err != nil {
		t.Fatal(err)
	}
	regID := restCreate(t, ctx, c.URL, "registries", map[string]any{"name": "dist", "type": "docker-registry", "url": "http://" + dest})
	policy := restCreate(t, ctx, c.URL, "replication/policies", map[string]any{"name": "slow", "enabled": true,
		"dest_registry": map[string]any{"id": regID}, "trigger": map[string]any{"type": "manual"}, "speed": 256})
	exec := restCreate(t, ctx, c.URL, "replication/executions", map[string]any{"policy_id": policy})

	// Which replica runs the task? Its log says so (the latest start, should
	// an attempt have failed on one replica and been retried on the other).
	runner := -1
	if err := waitFor(ctx, "a replica starts the task", 2*time.Minute, nil, func(context.Context) error {
		latest := ""
		for i, p := range c.replicas {
			if at := lastTaskStart(p.log); at != "" && at > latest {
				runner, latest = i, at
			}
		}
		if runner < 0 {
			return fmt.Errorf("no replica logged a task start")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Bytes flowing to the destination, then the replica dies.
	if err := waitFor(ctx, "an upload reaches the destination", time.Minute, reg, func(context.Context) error {
		if b, _ := os.ReadFile(reg.log); bytes.Contains(b, []byte("/blobs/uploads/")) {
			return nil
		}
		return fmt.Errorf("no upload in the destination's log")
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if e := getExecutionHA(t, ctx, c.ReplicaURLs[1-runner], exec); e.Status != "InProgress" {
		t.Fatalf("the execution ended before the replica was killed: %+v", e)
	}
	killedAt := time.Now()
	if err := c.KillReplica(runner); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed berth%d, which ran the task", runner+1)

	other := c.ReplicaURLs[1-runner]
	var e executionHA
	if err := waitFor(ctx, "the execution ends on the surviving replica", 4*time.Minute, c.replicas[1-runner], func(ctx context.Context) error {
		e = getExecutionHA(t, ctx, other, exec)
		if e.Status == "InProgress" {
			return fmt.Errorf("execution %+v", e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("execution ended %s after the kill: %+v", time.Since(killedAt).Round(time.Second), e)
	logs := taskLogsHA(t, ctx, other, exec)
	if e.Status != "Succeed" || e.Succeed != 1 {
		t.Fatalf("execution after the replica died: %+v\n%s", e, logs)
	}
	if !strings.Contains(logs, "no heartbeat from the replica running it") {
		t.Errorf("the task log does not say it was taken back:\n%s", logs)
	}
	if lastTaskStart(c.replicas[1-runner].log) == "" {
		t.Error("the surviving replica never started the task")
	}

	// The destination holds the source's digests.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dest+"/v2/library/repl/manifests/v1", nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if got := digest.FromBytes(body); res.StatusCode != http.StatusOK || got != b.mdigest {
		t.Fatalf("destination manifest: %s, digest %s, want %s", res.Status, got, b.mdigest)
	}
	for _, d := range b.blobs {
		res, err := http.Get("http://" + dest + "/v2/library/repl/blobs/" + d.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		v := d.Digest.Verifier()
		n, _ := io.Copy(v, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || n != d.Size || !v.Verified() {
			t.Errorf("destination blob %s: %s, %d bytes, verified %v", d.Digest, res.Status, n, v.Verified())
		}
	}
}

// lastTaskStart is the time (RFC 3339, UTC, comparable as text) of the
// last "replication task started" line of a replica's log, or "".
func lastTaskStart(log string) string {
	b, _ := os.ReadFile(log)
	last := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `msg="replication task started"`) && strings.HasPrefix(line, "time=") {
			at, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			last = at
		}
	}
	return last
}

// restCreate POSTs body to the REST API at base as admin and returns the
// id in the Location header.
func restCreate(t *testing.T, ctx context.Context, base, path string, body any) int64 {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v2.0/"+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(adminUser, adminPassword)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %s %s", path, res.Status, out)
	}
	loc := res.Header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil {
		t.Fatalf("POST %s: Location %q", path, loc)
	}
	return id
}

type executionHA struct {
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Succeed int    `json:"succeed"`
	Failed  int    `json:"failed"`
}

func restGet(t *testing.T, ctx context.Context, base, path string) ([]byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v2.0/"+path, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(adminUser, adminPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s %s", path, res.Status, firstLine(b))
	}
	return b, err
}

func getExecutionHA(t *testing.T, ctx context.Context, base string, id int64) executionHA {
	t.Helper()
	var e executionHA
	b, err := restGet(t, ctx, base, "replication/executions/"+strconv.FormatInt(id, 10))
	if err == nil {
		err = json.Unmarshal(b, &e)
	}
	if err != nil {
		e.Status = "InProgress" // not known yet: keep polling
		t.Logf("execution %d: %v", id, err)
	}
	return e
}

func taskLogsHA(t *testing.T, ctx context.Context, base string, id int64) string {
	t.Helper()
	path := "replication/executions/" + strconv.FormatInt(id, 10) + "/tasks"
	b, err := restGet(t, ctx, base, path)
	if err != nil {
		return err.Error()
	}
	var tasks []struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	_ = json.Unmarshal(b, &tasks)
	var out strings.Builder
	for _, tk := range tasks {
		l, _ := restGet(t, ctx, base, path+"/"+strconv.FormatInt(tk.ID, 10)+"/log")
		fmt.Fprintf(&out, "task %d %s:\n%s\n", tk.ID, tk.Status, l)
	}
	return out.String()
}
