package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestV2DotSegments: a /v2/ path with "." or ".." segments, also
// percent-encoded, is refused with 400 NAME_INVALID by the /v2/ API, never
// redirected to a cleaned path by the router.
func TestV2DotSegments(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, _ := startServe(t, ctx, testConfig(t))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{
		"/v2/library/../other/manifests/v1",
		"/v2/library/./app/manifests/v1",
		"/v2/../v2/library/app/tags/list",
		"/v2/./_catalog",
		"/v2/library/%2e%2e/other/manifests/v1",
		"/v2/library/%2E/app/blobs/uploads/",
		"/v2/library/app/manifests/..",
		"/v2/library//app/manifests/v1",
	} {
		t.Run(p, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+p, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("admin", testAdminPassword)
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			var body struct{ Errors []struct{ Code string } }
			_ = json.Unmarshal(b, &body)
			if res.StatusCode != http.StatusBadRequest || len(body.Errors) == 0 || body.Errors[0].Code != "NAME_INVALID" {
				t.Errorf("GET %s = %d %s (Location %q), want 400 NAME_INVALID", p, res.StatusCode, b, res.Header.Get("Location"))
			}
		})
	}
}

// TestSlowClients: with 1s read timeout, a client that stalls while
// sending headers or a body loses its connection, while a blob upload
// that keeps sending for longer than the timeout completes. The write
// timeout stays long: the first Basic login costs one argon2id check,
// which on a loaded machine can take longer than a second.
func TestSlowClients(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := testConfig(t)
	cfg.HTTP.ReadTimeout, cfg.HTTP.WriteTimeout = time.Second, 30*time.Second
	addr, _ := startServe(t, ctx, cfg)
	res, err := adminDo(http.MethodPost, "http://"+addr+"/api/v2.0/projects", strings.NewReader(`{"project_name":"lib"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create project: %d", res.StatusCode)
	}

	// cutWithin sends raw, then waits: the server must close the
	// connection (or answer and close) well before the client gives up.
	cutWithin := func(t *testing.T, raw string) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(6 * time.Second))
		start := time.Now()
		_, err = io.Copy(io.Discard, conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %s", time.Since(start).Round(time.Millisecond))
		}
	}
	t.Run("stalled headers", func(t *testing.T) {
		cutWithin(t, "GET /v2/ HTTP/1.1\r\nHost: x\r\n")
	})
	t.Run("stalled body", func(t *testing.T) {
		auth := base64.StdEncoding.EncodeToString([]byte("admin:" + testAdminPassword))
		cutWithin(t, "PUT /v2/lib/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "+auth+
			"\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 100\r\n\r\n{\"schema")
	})
	t.Run("stalled upload", func(t *testing.T) {
		auth := base64.StdEncoding.EncodeToString([]byte("admin:" + testAdminPassword))
		cutWithin(t, "POST /v2/lib/app/blobs/uploads/?digest=sha256:"+strings.Repeat("a", 64)+" HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "+auth+
			"\r\nContent-Length: 100000\r\n\r\nsome bytes")
	})
	t.Run("upload making progress", func(t *testing.T) {
		res, err := adminDo(http.MethodPost, "http://"+addr+"/v2/lib/app/blobs/uploads/", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusAccepted || loc == "" {
			t.Fatalf("start upload: %d", res.StatusCode)
		}
		// 15 pieces, one every 200ms: 3s in all, three times the timeout.
		body := &tricklingBody{pieces: 15, every: 200 * time.Millisecond, piece: []byte(strings.Repeat("x", 1000))}
		res, err = adminDo(http.MethodPatch, "http://"+addr+loc, body)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted || res.Header.Get("Range") != "0-14999" {
			t.Fatalf("trickled PATCH = %d, Range %q; want 202 0-14999", res.StatusCode, res.Header.Get("Range"))
		}
	})
}

// tricklingBody yields piece every so often, pieces times.
type tricklingBody struct {
	pieces int
	every  time.Duration
	piece  []byte
}

func (b *tricklingBody) Read(p []byte) (int, error) {
	if b.pieces == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.every)
	b.pieces--
	return copy(p, b.piece), nil
}
