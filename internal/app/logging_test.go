package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
)

// logCapture collects what Serve logs, as JSON lines.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// lines returns the lines logged so far, decoded.
func (c *logCapture) lines(t *testing.T) []map[string]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(c.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// startServeLogged starts Serve like startServe, logging JSON at debug
// level into the returned capture.
func startServeLogged(t *testing.T, ctx context.Context, cfg config.Config) (string, *logCapture) {
	t.Helper()
	logs := &logCapture{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, log, func(a net.Addr) { addrc <- a.String() }) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case a := <-addrc:
		return a, logs
	case err := <-done:
		done <- err
		t.Fatalf("Serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not start")
	}
	return "", nil
}

// TestServerErrorsLogRequestID: during a database outage every log line
// about a failed (5xx) request carries the request_id the client got.
func TestServerErrorsLogRequestID(t *testing.T) {
	cfg, proxy := proxiedPostgres(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, logs := startServeLogged(t, ctx, cfg)

	proxy.SetDown(true)
	ids := map[string]bool{}
	for _, path := range []string{"/v2/library/x/manifests/latest", "/api/v2.0/projects/library", "/v2/library/x/blobs/uploads/"} {
		method := http.MethodGet
		if strings.HasSuffix(path, "/uploads/") {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.SetBasicAuth("admin", testAdminPassword)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
		if res.StatusCode < 500 {
			t.Errorf("%s %s during the outage: %d, want a 5xx", method, path, res.StatusCode)
		}
		ids[res.Header.Get("X-Request-Id")] = true
	}
	proxy.SetDown(false)

	errorLines := 0
	for _, l := range logs.lines(t) {
		level, _ := l["level"].(string)
		status, _ := l["status"].(float64)
		if level != "ERROR" && !(l["msg"] == "request" && status >= 500) {
			continue
		}
		errorLines++
		id, _ := l["request_id"].(string)
		if !ids[id] {
			t.Errorf("5xx log line without the request's request_id: %v", l)
		}
	}
	if errorLines < 3 {
		t.Errorf("got %d log lines about failed requests, want at least 3 (one access log line each)", errorLines)
	}
}
