// Package bench is the project's comparative benchmark (cmd/berth-bench,
// run by scripts/bench/compare.sh): it starts Berth and its peer
// registries fresh on loopback, runs the same workloads against each in
// one run and prints a table with ratios. It prints figures; it asserts
// nothing about timings and is never run as a test.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is one registry under test.
type Server struct {
	Name string // column name: berth, dist3, dist2.8
	URL  string
	// User and Password are Berth's admin credentials; empty for peers,
	// which run without authentication.
	User, Password string
	cmd            *exec.Cmd
	dir            string
	log            *os.File
}

// S3 is an S3 store the servers can use.
type S3 struct {
	Endpoint, Bucket, Key, Secret string
}

// ServerSpec says how to start one server.
type ServerSpec struct {
	Name    string // berth, dist3 or dist2.8
	Binary  string
	S3      *S3    // nil: filesystem
	Prefix  string // S3 key prefix
	DataDir string // fresh directory for its data and log
	// Env is added to Berth's environment (e.g. BERTH_DEBUG_ADDR).
	Env []string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server and waits until /v2/ answers.
func Start(ctx context.Context, spec ServerSpec) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(spec.DataDir, 0o755); err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &Server{Name: spec.Name, URL: "http://" + addr, dir: spec.DataDir}
	var cmd *exec.Cmd
	switch {
	case IsBerth(spec.Name):
		s.User, s.Password = "admin", "Bench-"+strconv.FormatInt(time.Now().UnixNano(), 36)
		cmd = exec.Command(spec.Binary, "serve")
		env := append(os.Environ(),
			"BERTH_HTTP_ADDR="+addr, "BERTH_DATA_DIR="+filepath.Join(spec.DataDir, "data"),
			"BERTH_ADMIN_PASSWORD="+s.Password, "BERTH_LOG_LEVEL=warn")
		if spec.S3 != nil {
			env = append(env, "BERTH_STORAGE_TYPE=s3",
				"BERTH_STORAGE_S3_REGIONENDPOINT="+spec.S3.Endpoint, "BERTH_STORAGE_S3_BUCKET="+spec.S3.Bucket,
				"BERTH_STORAGE_S3_ACCESSKEY="+spec.S3.Key, "BERTH_STORAGE_S3_SECRETKEY="+spec.S3.Secret,
				"BERTH_STORAGE_S3_REGION=us-east-1", "BERTH_STORAGE_S3_FORCEPATHSTYLE=true",
				"BERTH_STORAGE_S3_DISABLEREDIRECT=true", "BERTH_STORAGE_S3_ROOTDIRECTORY=/"+spec.Prefix)
		}
		cmd.Env = append(env, spec.Env...)
	case spec.Name == "dist3" || spec.Name == "dist2.8":
		cfg := filepath.Join(spec.DataDir, "config.yml")
		if err := os.WriteFile(cfg, []byte(distConfig(addr, spec)), 0o644); err != nil {
			return nil, err
		}
		if spec.Name == "dist2.8" {
			cmd = exec.Command(spec.Binary, "serve", cfg)
		} else {
			cmd = exec.Command(spec.Binary, "serve", cfg)
		}
		// Distribution 2.8 panics at start when AWS_CA_BUNDLE is set.
		cmd.Env = withoutEnv(os.Environ(), "AWS_CA_BUNDLE", "SSL_CERT_FILE", "OTEL_TRACES_EXPORTER")
		cmd.Env = append(cmd.Env, "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	default:
		return nil, fmt.Errorf("unknown server %q", spec.Name)
	}
	lf, err := os.Create(filepath.Join(spec.DataDir, "server.log"))
	if err != nil {
		return nil, err
	}
	s.log = lf
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited at start; see %s", spec.Name, lf.Name())
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		// Up when /v2/ answers, without credentials: a login now would
		// count its password hash in the resident set "at start".
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v2/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return s, nil
			}
		}
	}
	s.Stop()
	return nil, fmt.Errorf("%s did not answer on %s/v2/", spec.Name, s.URL)
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			out = append(out, e)
		}
	}
	return out
}

func distConfig(addr string, spec ServerSpec) string {
	storage := "  filesystem:\n    rootdirectory: " + filepath.Join(spec.DataDir, "storage") + "\n"
	if spec.S3 != nil {
		storage = fmt.Sprintf(`  s3:
    region: us-east-1
    regionendpoint: %s
    bucket: %s
    accesskey: %s
    secretkey: %s
    secure: false
    v4auth: true
    forcepathstyle: true
    chunksize: 10485760
    rootdirectory: /%s
  redirect:
    disable: true
`, spec.S3.Endpoint, spec.S3.Bucket, spec.S3.Key, spec.S3.Secret, spec.Prefix)
	}
	return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
` + storage + `  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: ` + addr + `
`
}

// auth adds the server's credentials (Basic) to req.
func (s *Server) auth(req *http.Request) {
	if s.User != "" {
		req.SetBasicAuth(s.User, s.Password)
	}
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop ends the server (SIGTERM, then SIGKILL after 10 s) and removes its data.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for i := 0; i < 100; i++ {
				if err := s.cmd.Process.Signal(syscall.Signal(0)); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			close(done)
		}()
		<-done
		_ = s.cmd.Process.Kill()
	}
	if s.log != nil {
		s.log.Close()
	}
}

// RemoveData deletes the server's data directory.
func (s *Server) RemoveData() { _ = os.RemoveAll(s.dir) }

// statusKiB reads a /proc/PID/status field (VmRSS, VmHWM) in KiB.
func statusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no " + field + " in /proc status")
}

// RSSMiB is the server's resident set now (VmRSS) and its peak (VmHWM).
func (s *Server) RSSMiB() (now, peak float64) {
	n, _ := statusKiB(s.PID(), "VmRSS")
	p, _ := statusKiB(s.PID(), "VmHWM")
	return float64(n) / 1024, float64(p) / 1024
}
