package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/testenv/testca"
	"github.com/berth-registry/berth/internal/tlsserve"
	"github.com/opencontainers/go-digest"
)

// tlsFiles writes a certificate for hosts signed by ca into dir.
func tlsFiles(t *testing.T, ca *testca.CA, dir string, o testca.Options) (certFile, keyFile string) {
	t.Helper()
	p, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := p.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func newCA(t *testing.T) *testca.CA {
	t.Helper()
	ca, err := testca.New("test CA " + t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func tlsClient(ca *testca.CA, certs ...tls.Certificate) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: certs}, ForceAttemptHTTP2: true}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestTLSStartupErrors: every bad certificate setup stops Serve before it
// listens, with an error that names the file and the problem.
func TestTLSStartupErrors(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	good, goodKey := tlsFiles(t, ca, t.TempDir(), testca.Options{Hosts: []string{"registry.test"}})
	_, otherKey := tlsFiles(t, ca, t.TempDir(), testca.Options{Hosts: []string{"registry.test"}})
	expired, expiredKey := tlsFiles(t, ca, t.TempDir(), testca.Options{Hosts: []string{"registry.test"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, external string
		want                      []string
		is                        error
	}{
		{name: "missing certificate", cert: filepath.Join(dir, "nope.pem"), key: goodKey, want: []string{"http.tls.certificate", "nope.pem", "no such file"}, is: os.ErrNotExist},
		{name: "unreadable key", cert: good, key: dir, want: []string{"http.tls.key", "is a directory"}},
		{name: "not PEM", cert: garbage, key: goodKey, want: []string{"http.tls.certificate", "garbage.pem"}},
		{name: "key mismatch", cert: good, key: otherKey, want: []string{"does not match"}, is: tlsserve.ErrKeyMismatch},
		{name: "expired", cert: expired, key: expiredKey, want: []string{"expired", filepath.Base(expired)}, is: tlsserve.ErrExpired},
		{name: "host not covered", cert: good, key: goodKey, external: "https://other.test", want: []string{"does not cover", "other.test", "registry.test"}, is: tlsserve.ErrHostNotCovered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.HTTP.TLS.Certificate, cfg.HTTP.TLS.Key, cfg.ExternalURL = tt.cert, tt.key, tt.external
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := Serve(ctx, cfg, slog.New(slog.DiscardHandler), func(net.Addr) { t.Error("Serve listened with a bad certificate") })
			if err == nil {
				t.Fatal("Serve succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// TestTLSServe: HTTPS with HTTP/2, TLS 1.2 as the floor, external_url in
// the token realm and in every Location, and the redirect listener.
func TestTLSServe(t *testing.T) {
	ca := newCA(t)
	cfg := testConfig(t)
	cfg.HTTP.TLS.Certificate, cfg.HTTP.TLS.Key = tlsFiles(t, ca, t.TempDir(), testca.Options{Hosts: []string{"localhost", "127.0.0.1"}})
	redirect := freeAddr(t)
	cfg.HTTP.TLS.RedirectAddr = redirect
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// external_url needs the port, known only once listening: pick it first.
	cfg.HTTP.Addr = freeAddr(t)
	_, port, _ := net.SplitHostPort(cfg.HTTP.Addr)
	cfg.ExternalURL = "https://localhost:" + port
	addr, _ := startServe(t, ctx, cfg)
	c := tlsClient(ca)

	resp, err := c.Get("https://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" {
		t.Errorf("proto %s, want HTTP/2.0", resp.Proto)
	}
	if got, want := resp.Header.Get("WWW-Authenticate"), `realm="https://localhost:`+port+`/service/token"`; !strings.Contains(got, want) {
		t.Errorf("WWW-Authenticate %q, want %s", got, want)
	}

	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/v2/library/tls/blobs/uploads/", nil)
	req.SetBasicAuth("admin", testAdminPassword)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(loc, cfg.ExternalURL+"/v2/library/tls/blobs/uploads/") {
		t.Errorf("POST upload: %d, Location %q, want it under %s", resp.StatusCode, loc, cfg.ExternalURL)
	}

	old := &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	resp, err = c.Get("http://" + redirect + "/v2/_catalog?n=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Location"), cfg.ExternalURL+"/v2/_catalog?n=1"; resp.StatusCode != http.StatusPermanentRedirect || got != want {
		t.Errorf("redirect listener: %d %q, want 308 %q", resp.StatusCode, got, want)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTLSReloadDuringUpload: the certificate files are replaced while an
// upload streams; new connections get the new certificate and the upload,
// on its old connection, completes.
func TestTLSReloadDuringUpload(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.HTTP.TLS.Certificate, cfg.HTTP.TLS.Key = tlsFiles(t, ca, dir, testca.Options{CommonName: "first", Hosts: []string{"127.0.0.1"}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, _ := startServe(t, ctx, cfg)
	serial := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := serial(); got != "first" {
		t.Fatalf("certificate %q, want first", got)
	}

	c := tlsClient(ca)
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/v2/library/reload/blobs/uploads/", nil)
	req.SetBasicAuth("admin", testAdminPassword)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := "https://" + addr + resp.Header.Get("Location")
	data := append([]byte("a"), bytes.Repeat([]byte("berth"), 1<<20)...) // 5 MiB; slowBody sends the "a" first
	release := make(chan struct{})
	body := &slowBody{release: release, rest: bytes.NewReader(data[1:])}
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, loc+"?digest="+digest.FromBytes(data).String(), body)
		req.SetBasicAuth("admin", testAdminPassword)
		req.ContentLength = int64(len(data))
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("upload: %v", err)
			done <- nil
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp
	}()

	time.Sleep(200 * time.Millisecond) // the upload is under way
	tlsFiles(t, ca, dir, testca.Options{CommonName: "second", Hosts: []string{"127.0.0.1"}})
	deadline := time.Now().Add(10 * time.Second)
	for serial() != "second" {
		if time.Now().After(deadline) {
			t.Fatal("new connections still get the old certificate 10 s after the files changed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(release)
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload across the reload: %v", resp)
	}
}

// TestMutualTLS: with clientcas, a client without a certificate (or with
// one from another CA) is refused; one with a certificate gets in.
func TestMutualTLS(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.HTTP.TLS.Certificate, cfg.HTTP.TLS.Key = tlsFiles(t, ca, dir, testca.Options{Hosts: []string{"127.0.0.1"}})
	cfg.HTTP.TLS.ClientCAs = filepath.Join(dir, "clientcas.pem")
	if err := os.WriteFile(cfg.HTTP.TLS.ClientCAs, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, _ := startServe(t, ctx, cfg)
	clientCert := func(ca *testca.CA) tls.Certificate {
		p, err := ca.Issue(testca.Options{CommonName: "client", Client: true})
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.TLS()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"no certificate", nil, false},
		{"certificate of another CA", []tls.Certificate{clientCert(other)}, false},
		{"certificate of the client CA", []tls.Certificate{clientCert(ca)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tlsClient(ca, tt.certs...).Get("https://" + addr + "/livez")
			if err == nil {
				resp.Body.Close()
			}
			if got := err == nil && resp.StatusCode == http.StatusOK; got != tt.ok {
				t.Errorf("GET /livez: err %v, served %v, want served %v", err, got, tt.ok)
			}
		})
	}
}

func TestTLSConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"certificate without key", map[string]string{"BERTH_HTTP_TLS_CERTIFICATE": "/c.pem"}, "go together"},
		{"http external url", map[string]string{"BERTH_HTTP_TLS_CERTIFICATE": "/c.pem", "BERTH_HTTP_TLS_KEY": "/k.pem", "BERTH_EXTERNAL_URL": "http://r.test"}, "want https://"},
		{"clientcas without tls", map[string]string{"BERTH_HTTP_TLS_CLIENTCAS": "/ca.pem"}, "need http.tls.certificate"},
		{"acme without hosts", map[string]string{"BERTH_HTTP_TLS_ACME_DIRECTORY": "https://acme.test/dir"}, "hosts is empty"},
		{"http-01 without redirect listener", map[string]string{"BERTH_HTTP_TLS_ACME_DIRECTORY": "https://acme.test/dir", "BERTH_HTTP_TLS_ACME_HOSTS": "r.test", "BERTH_HTTP_TLS_ACME_CHALLENGE": "http-01"}, "redirect_addr"},
		{"acme and files", map[string]string{"BERTH_HTTP_TLS_ACME_DIRECTORY": "https://acme.test/dir", "BERTH_HTTP_TLS_ACME_HOSTS": "r.test", "BERTH_HTTP_TLS_CERTIFICATE": "/c.pem", "BERTH_HTTP_TLS_KEY": "/k.pem"}, "not both"},
		{"bad cache", map[string]string{"BERTH_HTTP_TLS_ACME_DIRECTORY": "https://acme.test/dir", "BERTH_HTTP_TLS_ACME_HOSTS": "r.test", "BERTH_HTTP_TLS_ACME_CACHE": "redis"}, "want directory or database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load("", func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
