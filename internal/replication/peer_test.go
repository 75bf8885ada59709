package replication_test

// Real-peer tests: Berth replicating to and from a second Berth and
// Debian's docker-registry (CNCF Distribution 2.8), both started here on
// loopback; cosign and oras attach what is replicated. scripts/test runs
// them in the `replication` step (BERTH_TEST_REQUIRE_SERVICES set, so a
// missing binary fails instead of skipping).

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/testenv"
)

var adminAuth = remote.WithAuth(&authn.Basic{Username: "admin", Password: apptest.AdminPassword})

// distribution is a docker-registry process this test started.
type distribution struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
	log  string
}

// startDistribution starts docker-registry on a free loopback port with
// its data in dir (reused by a restart) and its access log in dir/log. Its
// http.secret is fixed, so that upload sessions survive a restart.
func startDistribution(t *testing.T, dir string, port int) *distribution {
	t.Helper()
	bin := testenv.RequireBinary(t, "docker-registry")
	if port == 0 {
		port = freePort(t)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n  secret: berth-test-upload-state-secret\n",
		filepath.Join(dir, "data"), addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = lf, lf
	// Distribution 2.8 panics on AWS_CA_BUNDLE with its S3 driver only;
	// keep its environment minimal anyway.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	d := &distribution{Addr: addr, dir: dir, cmd: cmd, log: logPath}
	t.Cleanup(d.kill)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return d
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops the process by its PID (SIGKILL: a crash).
func (d *distribution) kill() {
	if d.cmd.Process != nil && d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		_ = d.cmd.Wait()
	}
}

func (d *distribution) port() int {
	_, p, _ := net.SplitHostPort(d.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// blobGETs counts the GET requests for each blob digest in the access log.
func (d *distribution) blobGETs(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// The combined-format access log: "GET /v2/<repo>/blobs/<digest> HTTP/1.1" 200
		i := strings.Index(line, "\"GET /v2/")
		if i < 0 {
			continue
		}
		req := line[i+1:]
		req, _, _ = strings.Cut(req, "\"")
		parts := strings.Fields(req)
		if len(parts) < 2 || !strings.Contains(parts[1], "/blobs/sha256:") {
			continue
		}
		out[parts[1][strings.LastIndex(parts[1], "/")+1:]]++
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// multiArch builds an index of two platform images of layers of size
// bytes each.
func multiArch(t *testing.T, size int64, layers int) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = mutate.IndexMediaType(emptyIndex(), types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(size, int64(layers))
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return idx
}

func emptyIndex() v1.ImageIndex {
	idx, _ := random.Index(0, 0, 0)
	return idx
}

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func digestOf(t *testing.T, s string, opts ...remote.Option) string {
	t.Helper()
	d, err := remote.Head(ref(t, s), opts...)
	if err != nil {
		t.Fatalf("HEAD %s: %v", s, err)
	}
	return d.Digest.String()
}

// rest calls srv's REST API as admin and checks the status.
func rest(t *testing.T, srv *apptest.Server, method, path string, body any, want int) apptest.Response {
	t.Helper()
	r := srv.REST(t, method, path, body)
	if r.Status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	return r
}

func idFrom(t *testing.T, r apptest.Response) int64 {
	t.Helper()
	loc := r.Header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil {
		t.Fatalf("Location %q", loc)
	}
	return id
}

func addRegistry(t *testing.T, srv *apptest.Server, name, typ, url, user, secret string) int64 {
	t.Helper()
	body := map[string]any{"name": name, "type": typ, "url": url}
	if user != "" {
		body["credential"] = map[string]any{"type": "basic", "access_key": user, "access_secret": secret}
	}
	return idFrom(t, rest(t, srv, http.MethodPost, "registries", body, http.StatusCreated))
}

type execution struct {
	ID         int64  `json:"id"`
	Status     string `json:"status"`
	StatusText string `json:"status_text"`
	Total      int    `json:"total"`
	Failed     int    `json:"failed"`
	Succeed    int    `json:"succeed"`
	InProgress int    `json:"in_progress"`
	Stopped    int    `json:"stopped"`
	Bytes      int64  `json:"bytes"`
}

func startExecution(t *testing.T, srv *apptest.Server, policy int64) int64 {
	t.Helper()
	return idFrom(t, rest(t, srv, http.MethodPost, "replication/executions", map[string]any{"policy_id": policy}, http.StatusCreated))
}

func getExecution(t *testing.T, srv *apptest.Server, id int64) execution {
	t.Helper()
	var e execution
	rest(t, srv, http.MethodGet, "replication/executions/"+strconv.FormatInt(id, 10), nil, http.StatusOK).Decode(t, &e)
	return e
}

// waitExecution waits until execution id has finished and returns it.
func waitExecution(t *testing.T, srv *apptest.Server, id int64, timeout time.Duration) execution {
	t.Helper()
	var e execution
	deadline := time.Now().Add(timeout)
	for {
		e = getExecution(t, srv, id)
		if e.Status != "InProgress" {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %d still running after %s: %+v\n%s", id, timeout, e, taskLogs(t, srv, id))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// taskLogs returns every task's status and log, for failure messages.
func taskLogs(t *testing.T, srv *apptest.Server, id int64) string {
	t.Helper()
	var tasks []struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Src    string `json:"src_resource"`
		Ref    string `json:"reference"`
	}
	base := "replication/executions/" + strconv.FormatInt(id, 10) + "/tasks"
	srv.REST(t, http.MethodGet, base+"?page_size=100", nil).Decode(t, &tasks)
	var b strings.Builder
	for _, tk := range tasks {
		fmt.Fprintf(&b, "task %d %s %s %s:\n%s\n", tk.ID, tk.Status, tk.Src, tk.Ref,
			srv.REST(t, http.MethodGet, base+"/"+strconv.FormatInt(tk.ID, 10)+"/log", nil).Body)
	}
	return b.String()
}

func pushPolicy(t *testing.T, srv *apptest.Server, name string, dest int64, filters []map[string]any, extra map[string]any) int64 {
	t.Helper()
	body := map[string]any{"name": name, "dest_registry": map[string]any{"id": dest}, "filters": filters,
		"trigger": map[string]any{"type": "manual"}, "enabled": true, "override": true}
	for k, v := range extra {
		body[k] = v
	}
	return idFrom(t, rest(t, srv, http.MethodPost, "replication/policies", body, http.StatusCreated))
}

// tool finds a client binary (scripts/test puts the cached tools on PATH).
func tool(t *testing.T, name string) string {
	t.Helper()
	return testenv.RequireBinary(t, name)
}

func run(t *testing.T, ctx context.Context, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func cmdInDir(t *testing.T, ctx context.Context, env []string, dir, bin string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

// dockerConfig writes a docker config.json logging in to each registry
// as admin and returns its directory.
func dockerConfig(t *testing.T, hosts ...string) string {
	t.Helper()
	dir := t.TempDir()
	auths := map[string]any{}
	for _, h := range hosts {
		auths[h] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("admin:" + apptest.AdminPassword))}
	}
	b, _ := json.Marshal(map[string]any{"auths": auths})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
