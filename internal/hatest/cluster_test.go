package hatest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/testenv"
)

const (
	s3AccessKey   = "hatest"
	s3SecretKey   = "hatestsecret"
	s3Region      = "us-east-1"
	s3Bucket      = "berth"
	adminUser     = "admin"
	adminPassword = "hatest-admin-password"

	startTimeout = 90 * time.Second // per piece, on 2 busy cores
)

// Options shape the topology.
type Options struct {
	Replicas int      // Berth replicas (default 3)
	Volumes  int      // SeaweedFS volume servers (default 3)
	Redis    bool     // start Redis and give replicas BERTH_REDIS_URL
	Env      []string // extra KEY=VALUE for every replica (and Berth commands)
}

// Cluster is a running local HA topology; see doc.go. Everything it
// started is killed when the test ends.
type Cluster struct {
	Dir         string   // temp dir: data and *.log files
	URL         string   // haproxy, e.g. http://127.0.0.1:PORT
	ReplicaURLs []string // each Berth replica directly
	S3URL       string   // the S3 gateway
	DatabaseURL string
	RedisURL    string // "" without Redis

	t         testing.TB
	berth     string
	ports     portPicker
	procs     []*proc // every process, in start order
	master    *proc
	volumes   []*proc
	filer     *proc
	replicas  []*proc
	haproxy   *proc
	statsURL  string
	tokenKey  string // token-signing key file shared by the replicas
	secretKey string // session secret file shared by the replicas
	extraEnv  []string
}

// StartCluster starts the topology and waits until haproxy sees every
// replica up. The test is skipped (failed under CI) when a required
// binary or service is missing.
func StartCluster(t *testing.T, o Options) *Cluster {
	t.Helper()
	if o.Replicas == 0 {
		o.Replicas = 3
	}
	if o.Volumes == 0 {
		o.Volumes = 3
	}
	// Everything that can skip comes first, before anything is started.
	weed := requireWeed(t)
	haproxyBin := testenv.RequireBinary(t, "haproxy")
	redisBin := ""
	if o.Redis {
		redisBin = testenv.RequireBinary(t, "redis-server")
	}
	dsn := metatest.PostgresDSN(t) // dropped at cleanup, after the replicas are killed
	c := &Cluster{t: t, DatabaseURL: dsn, berth: berthBinary(t), extraEnv: o.Env}
	c.Dir = c.tempDir(t)

	// Registered after TempDir, so it runs before the directory goes.
	t.Cleanup(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			if err := c.procs[i].kill(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if t.Failed() {
			for _, p := range c.procs {
				t.Logf("---- tail of %s (%s) ----\n%s", p.name, p.log, tail(p.log, 40))
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	var stages []string
	stage := func(name string, f func()) {
		t0 := time.Now()
		f()
		stages = append(stages, fmt.Sprintf("%s %.1fs", name, time.Since(t0).Seconds()))
	}
	stage("seaweedfs", func() { c.startSeaweedFS(ctx, weed, o.Volumes) })
	if o.Redis {
		stage("redis", func() { c.startRedis(ctx, redisBin) })
	}
	c.writeTokenKey()
	stage("berth", func() { c.startReplicas(ctx, o.Replicas) })
	stage("haproxy", func() { c.startHAProxy(ctx, haproxyBin) })
	t.Logf("ha topology up in %v (%s): haproxy %s, replicas %v, s3 %s, logs in %s",
		time.Since(start).Round(time.Millisecond), strings.Join(stages, ", "), c.URL, c.ReplicaURLs, c.S3URL, c.Dir)
	return c
}

func (c *Cluster) tempDir(t *testing.T) string {
	if os.Getenv("BERTH_TEST_KEEP") != "1" {
		return t.TempDir()
	}
	d, err := os.MkdirTemp("", "hatest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { t.Logf("BERTH_TEST_KEEP=1: kept %s", d) })
	return d
}

// newProc registers a process whose log is Dir/<name>.log.
func (c *Cluster) newProc(name, path string, env []string, args ...string) *proc {
	dir := filepath.Join(c.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	p := &proc{name: name, path: path, args: args, env: env, dir: dir, log: filepath.Join(c.Dir, name+".log")}
	c.procs = append(c.procs, p)
	return p
}

func (c *Cluster) mustStart(p *proc) {
	c.t.Helper()
	if err := p.start(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) mustWait(ctx context.Context, what string, p *proc, check func(context.Context) error) {
	c.t.Helper()
	if err := waitFor(ctx, what, startTimeout, p, check); err != nil {
		c.t.Fatal(err)
	}
}

// ---- SeaweedFS ----

func (c *Cluster) startSeaweedFS(ctx context.Context, weed string, volumes int) {
	t := c.t
	t.Helper()
	loop := []string{"-ip=127.0.0.1", "-ip.bind=127.0.0.1"}

	mport := c.ports.pick(t, true)
	master := fmt.Sprintf("127.0.0.1:%d", mport)
	c.master = c.newProc("weed-master", weed, nil, append([]string{"master"}, append(loop,
		"-port="+strconv.Itoa(mport), "-port.grpc="+strconv.Itoa(mport+10000),
		"-mdir=.", "-peers=none", "-telemetry=false",
		"-defaultReplication=001", "-volumeSizeLimitMB=64")...)...)
	c.mustStart(c.master)
	c.mustWait(ctx, "weed master", c.master, func(ctx context.Context) error {
		var st struct{ IsLeader bool }
		if err := getJSON(ctx, "http://"+master+"/cluster/status", &st); err != nil {
			return err
		}
		if !st.IsLeader {
			return fmt.Errorf("no leader yet")
		}
		return nil
	})

	for i := range volumes {
		vport := c.ports.pick(t, true)
		v := c.newProc(fmt.Sprintf("weed-volume%d", i+1), weed, nil, append([]string{"volume"}, append(loop,
			"-port="+strconv.Itoa(vport), "-port.grpc="+strconv.Itoa(vport+10000),
			"-dir=.", "-max=40", "-mserver="+master, "-preStopSeconds=0")...)...)
		c.mustStart(v)
		c.volumes = append(c.volumes, v)
	}
	c.mustWait(ctx, "weed volume servers", c.volumes[0], func(ctx context.Context) error {
		for _, v := range c.volumes {
			if !v.running() {
				return fmt.Errorf("%s exited; see %s", v.name, v.log)
			}
		}
		n, err := c.dataNodes(ctx, master)
		if err != nil {
			return err
		}
		if n != volumes {
			return fmt.Errorf("master sees %d of %d volume servers", n, volumes)
		}
		return nil
	})

	s3json := filepath.Join(c.Dir, "s3.json")
	ident := fmt.Sprintf(`{"identities":[{"name":"berth","credentials":[{"accessKey":%q,"secretKey":%q}],`+
		`"actions":["Admin","Read","Write","List","Tagging"]}]}`, s3AccessKey, s3SecretKey)
	if err := os.WriteFile(s3json, []byte(ident), 0o600); err != nil {
		t.Fatal(err)
	}
	fport, sport := c.ports.pick(t, true), c.ports.pick(t, true)
	c.filer = c.newProc("weed-filer", weed, nil, append([]string{"filer"}, append(loop,
		"-port="+strconv.Itoa(fport), "-port.grpc="+strconv.Itoa(fport+10000),
		"-master="+master, "-defaultStoreDir=.",
		"-localSocket="+filepath.Join(c.Dir, "filer.sock"),
		"-s3", "-s3.port="+strconv.Itoa(sport), "-s3.port.grpc="+strconv.Itoa(sport+10000),
		"-s3.config="+s3json, "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket="+filepath.Join(c.Dir, "s3.sock"))...)...)
	c.mustStart(c.filer)
	c.S3URL = fmt.Sprintf("http://127.0.0.1:%d", sport)

	// The gateway answers before it can store objects: make the bucket,
	// then wait for a write to go through.
	c.mustWait(ctx, "s3 bucket", c.filer, func(ctx context.Context) error {
		st, body, err := c.s3Do(ctx, http.MethodPut, "/"+s3Bucket, nil)
		if err != nil {
			return err
		}
		if st == http.StatusOK || bytes.Contains(body, []byte("BucketAlreadyOwnedByYou")) || bytes.Contains(body, []byte("BucketAlreadyExists")) {
			return nil
		}
		return fmt.Errorf("PUT bucket: %d %s", st, firstLine(body))
	})
	c.mustWait(ctx, "s3 write", c.filer, func(ctx context.Context) error {
		st, body, err := c.s3Do(ctx, http.MethodPut, "/"+s3Bucket+"/.hatest-ready", []byte("ready"))
		if err != nil {
			return err
		}
		if st != http.StatusOK {
			return fmt.Errorf("PUT object: %d %s", st, firstLine(body))
		}
		_, _, _ = c.s3Do(ctx, http.MethodDelete, "/"+s3Bucket+"/.hatest-ready", nil)
		return nil
	})
}

// dataNodes counts the volume servers the master knows.
func (c *Cluster) dataNodes(ctx context.Context, master string) (int, error) {
	var st struct {
		Topology struct {
			DataCenters []struct {
				Racks []struct {
					DataNodes []struct{ URL string }
				}
			}
		}
	}
	if err := getJSON(ctx, "http://"+master+"/dir/status", &st); err != nil {
		return 0, err
	}
	n := 0
	for _, dc := range st.Topology.DataCenters {
		for _, r := range dc.Racks {
			n += len(r.DataNodes)
		}
	}
	return n, nil
}

// s3Do sends one SigV4-signed request to the S3 gateway.
func (c *Cluster) s3Do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.S3URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", h)
	creds := aws.Credentials{AccessKeyID: s3AccessKey, SecretAccessKey: s3SecretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, h, "s3", s3Region, time.Now()); err != nil {
		return 0, nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, b, err
}

// KillVolume SIGKILLs volume server i (0-based); it stays down.
func (c *Cluster) KillVolume(i int) error { return c.volumes[i].kill() }

// ---- Redis ----

func (c *Cluster) startRedis(ctx context.Context, bin string) {
	t := c.t
	t.Helper()
	port := c.ports.pick(t, false)
	p := c.newProc("redis", bin, nil, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", ".")
	c.mustStart(p)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c.mustWait(ctx, "redis", p, func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+PONG") {
			return fmt.Errorf("PING: %q", line)
		}
		return nil
	})
	c.RedisURL = "redis://" + addr + "/0"
}

// ---- Berth replicas ----

// writeTokenKey writes the token-signing key that every replica must
// share (issue 4, item 5): a token issued by one replica is presented to
// the others.
func (c *Cluster) writeTokenKey() {
	t := c.t
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	c.tokenKey = filepath.Join(c.Dir, "token-key.pem")
	if err := os.WriteFile(c.tokenKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.secretKey = filepath.Join(c.Dir, "secret-key")
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.secretKey, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ReplicaEnv is the environment of replica i (also right for `berth fsck`
// and `berth migrate`): everything shared comes from the cluster.
func (c *Cluster) ReplicaEnv(i int) []string {
	env := append(baseEnv(),
		"BERTH_HTTP_ADDR="+strings.TrimPrefix(c.ReplicaURLs[i], "http://"),
		"BERTH_DATA_DIR="+filepath.Join(c.Dir, fmt.Sprintf("berth%d", i+1), "data"),
		"BERTH_EXTERNAL_URL="+c.URL,
		"BERTH_DATABASE_URL="+c.DatabaseURL,
		"BERTH_STORAGE_TYPE=s3",
		"BERTH_STORAGE_S3_REGIONENDPOINT="+c.S3URL,
		"BERTH_STORAGE_S3_BUCKET="+s3Bucket,
		"BERTH_STORAGE_S3_ACCESSKEY="+s3AccessKey,
		"BERTH_STORAGE_S3_SECRETKEY="+s3SecretKey,
		"BERTH_STORAGE_S3_REGION="+s3Region,
		"BERTH_STORAGE_S3_FORCEPATHSTYLE=true",
		"BERTH_STORAGE_S3_DISABLEREDIRECT=true",
		"BERTH_ADMIN_PASSWORD="+adminPassword,
		"BERTH_TOKEN_KEY_FILE="+c.tokenKey,
		"BERTH_SECRET_KEY_FILE="+c.secretKey,
		"BERTH_TRUSTED_PROXIES=127.0.0.1/32", // haproxy, with option forwardfor
		"BERTH_SHUTDOWN_TIMEOUT=5s",
	)
	if c.RedisURL != "" {
		env = append(env, "BERTH_REDIS_URL="+c.RedisURL)
	}
	return append(env, c.extraEnv...)
}

func (c *Cluster) startReplicas(ctx context.Context, n int) {
	t := c.t
	t.Helper()
	hport := c.ports.pick(t, false)
	c.URL = fmt.Sprintf("http://127.0.0.1:%d", hport) // haproxy, started next
	for i := range n {
		c.ReplicaURLs = append(c.ReplicaURLs, fmt.Sprintf("http://127.0.0.1:%d", c.ports.pick(t, false)))
		c.replicas = append(c.replicas, c.newProc(fmt.Sprintf("berth%d", i+1), c.berth, nil, "serve"))
	}
	for i, p := range c.replicas {
		p.env = c.ReplicaEnv(i)
		c.mustStart(p)
	}
	for i := range c.replicas {
		if err := c.waitReplica(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *Cluster) waitReplica(ctx context.Context, i int) error {
	return waitFor(ctx, c.replicas[i].name, startTimeout, c.replicas[i], func(ctx context.Context) error {
		return getOK(ctx, c.ReplicaURLs[i]+"/readyz")
	})
}

// KillReplica SIGKILLs replica i (0-based).
func (c *Cluster) KillReplica(i int) error { return c.replicas[i].kill() }

// RestartReplica starts replica i again and waits until it is ready.
func (c *Cluster) RestartReplica(ctx context.Context, i int) error {
	if err := c.replicas[i].start(); err != nil {
		return err
	}
	return c.waitReplica(ctx, i)
}

// Berth runs the berth binary with replica 0's environment (a one-off
// command such as fsck) and returns its combined output.
func (c *Cluster) Berth(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.berth, args...)
	cmd.Env = c.ReplicaEnv(0)
	cmd.Dir = c.Dir
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}

// ---- haproxy ----

func (c *Cluster) startHAProxy(ctx context.Context, bin string) {
	t := c.t
	t.Helper()
	sport := c.ports.pick(t, false)
	c.statsURL = fmt.Sprintf("http://127.0.0.1:%d/stats;csv", sport)
	var servers strings.Builder
	for i, u := range c.ReplicaURLs {
		fmt.Fprintf(&servers, "\tserver berth%d %s check\n", i+1, strings.TrimPrefix(u, "http://"))
	}
	cfg := fmt.Sprintf(`global
	maxconn 1024
	log stdout format raw local0 info

defaults
	mode http
	log global
	option httplog
	option forwardfor
	timeout connect 1s
	timeout client 60s
	timeout server 60s
	timeout http-request 10s
	timeout queue 5s
	# A connection refused by a dead replica is retried on another one;
	# a request already sent is never replayed.
	retries 3
	option redispatch 1

frontend registry
	bind %s
	default_backend berth

backend berth
	balance roundrobin
	option httpchk GET /readyz
	http-check expect rstatus ^(200|401)$
	default-server inter 500ms fall 2 rise 2
	http-response set-header X-Served-By %%[srv_name]
%s
listen stats
	bind 127.0.0.1:%d
	stats enable
	stats uri /stats
`, strings.TrimPrefix(c.URL, "http://"), servers.String(), sport)
	path := filepath.Join(c.Dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c.haproxy = c.newProc("haproxy", bin, nil, "-db", "-f", path)
	c.mustStart(c.haproxy)
	if err := c.WaitBackendsUp(ctx, startTimeout); err != nil {
		t.Fatal(err)
	}
}

// backend is haproxy's view of one replica.
type backend struct {
	Status string // "UP", "DOWN", ...
	Active int    // requests being served now (scur)
}

// Backends reads haproxy's stats for each replica, by name (berth1...).
func (c *Cluster) Backends(ctx context.Context) (map[string]backend, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.statsURL, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("haproxy stats: %s", res.Status)
	}
	r := csv.NewReader(res.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("haproxy stats: %v", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(h, "# ")] = i
	}
	px, sv, stc, cur := col["pxname"], col["svname"], col["status"], col["scur"]
	out := map[string]backend{}
	for _, row := range rows[1:] {
		if len(row) > max(stc, cur) && row[px] == "berth" && row[sv] != "BACKEND" && row[sv] != "FRONTEND" {
			n, _ := strconv.Atoi(row[cur])
			out[row[sv]] = backend{Status: row[stc], Active: n}
		}
	}
	return out, nil
}

// WaitServing waits until replica i is serving a request (as haproxy
// sees it), so that a kill lands mid-request.
func (c *Cluster) WaitServing(ctx context.Context, i int, timeout time.Duration) error {
	name := c.replicas[i].name
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if b, err := c.Backends(ctx); err == nil && b[name].Active > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s served no request within %v", name, timeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// WaitBackendsUp waits until haproxy reports every running replica UP.
func (c *Cluster) WaitBackendsUp(ctx context.Context, timeout time.Duration) error {
	return waitFor(ctx, "haproxy backends", timeout, c.haproxy, func(ctx context.Context) error {
		st, err := c.Backends(ctx)
		if err != nil {
			return err
		}
		for _, p := range c.replicas {
			if p.running() && st[p.name].Status != "UP" {
				return fmt.Errorf("haproxy backends: %v", st)
			}
		}
		return nil
	})
}

// ---- small HTTP helpers ----

func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", url, res.Status, firstLine(b))
	}
	return nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
