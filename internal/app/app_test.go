package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
)

func testConfig(t *testing.T) config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("", func(k string) string {
		return map[string]string{"BERTH_HTTP_ADDR": "127.0.0.1:0", "BERTH_DATA_DIR": dir, "BERTH_SHUTDOWN_TIMEOUT": "10s",
			"BERTH_ADMIN_PASSWORD": testAdminPassword}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testAdminPassword is the administrator's password in testConfig.
const testAdminPassword = "Admin12345"

// adminDo sends a request as the administrator (Basic auth).
func adminDo(method, url string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("admin", testAdminPassword)
	return http.DefaultClient.Do(req)
}

// startServe runs Serve in the background and returns its address and a
// channel with Serve's result.
func startServe(t *testing.T, ctx context.Context, cfg config.Config) (string, <-chan error) {
	t.Helper()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg, slog.New(slog.DiscardHandler), func(a net.Addr) { addrc <- a.String() })
	}()
	select {
	case a := <-addrc:
		return a, done
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not start")
	}
	return "", nil
}

// slowBody yields one byte, then waits for release before the rest.
type slowBody struct {
	sent    bool
	release <-chan struct{}
	rest    io.Reader
}

func (b *slowBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		p[0] = 'a'
		return 1, nil
	}
	<-b.release
	return b.rest.Read(p)
}

// TestGracefulShutdown: cancelling Serve's context (SIGTERM) lets an
// in-flight upload finish, then Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, done := startServe(t, ctx, testConfig(t))
	base := "http://" + addr

	res, err := adminDo(http.MethodPost, base+"/v2/library/app/blobs/uploads/", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")

	release := make(chan struct{})
	result := make(chan int, 1)
	go func() {
		res, err := adminDo(http.MethodPatch, base+loc, &slowBody{release: release, rest: strings.NewReader("bcdef")})
		if err != nil {
			result <- -1
			return
		}
		res.Body.Close()
		result <- res.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // the PATCH is in flight
	cancel()
	time.Sleep(200 * time.Millisecond) // shutdown has begun
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("listener still accepts connections during shutdown")
	}
	close(release)
	if got := <-result; got != http.StatusAccepted {
		t.Fatalf("in-flight PATCH = %d, want 202", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestHealthAndMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := testConfig(t)
	addr, _ := startServe(t, ctx, cfg)
	for _, p := range []string{"/livez", "/readyz", "/v2/"} {
		res, err := adminDo(http.MethodGet, "http://"+addr+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", p, res.StatusCode)
		}
	}
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`berth_http_requests_total{code="200",method="GET",route="v2_base"}`, "berth_blob_upload_duration_seconds", "berth_http_request_bytes_total"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if _, err := filepath.Glob(filepath.Join(cfg.DataDir, "berth.db")); err != nil {
		t.Fatal(err)
	}
}
