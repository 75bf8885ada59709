package tlstest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/testenv"
	"github.com/berth-registry/berth/internal/testenv/testca"
)

// host is the name Berth gets certificates for; the mock DNS server
// answers every name with 127.0.0.1.
const host = "berth.acme.test"

// lifetime is the certificates' validity in Pebble: Berth renews when a
// third is left.
const lifetime = 30 * time.Second

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs a program until the test ends, its output in a log file that
// is shown when the test fails.
func start(t *testing.T, name string, env []string, args ...string) {
	t.Helper()
	logf := filepath.Join(t.TempDir(), name+".log")
	out, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.RequireBinary(t, name), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf)
			t.Logf("%s log:\n%s", name, b)
		}
	})
}

// pebble starts the mock DNS server and Pebble, which validates
// TLS-ALPN-01 on tlsPort and HTTP-01 on httpPort, and returns its
// directory URL, the CA file trusted for it and a client for its
// management interface.
func pebble(t *testing.T, tlsPort, httpPort int) (dir, caFile string, mgmt string, client *http.Client) {
	t.Helper()
	work := t.TempDir()
	ca, err := testca.New("pebble front-end CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(work, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(testca.Options{Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(work, "wfe.pem"), filepath.Join(work, "wfe-key.pem")
	if err := p.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	dnsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	start(t, "challtestsrv", nil, "-dnsserver", dnsAddr,
		"-management", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		"-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")

	wfe := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	mgmt = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": wfe, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": tlsPort,
		"keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "short-lived, to see renewals", "validityPeriod": int(lifetime / time.Second)}},
	}}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(work, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// No validation delays, no random bad nonces, a fresh challenge for
	// every order (so that renewals are validated too).
	start(t, "pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", confFile, "-dnsserver", dnsAddr)

	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	dir = "https://" + wfe + "/dir"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(dir)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return dir, caFile, mgmt, client
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer %s: %v", dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pebbleRoots returns the roots Pebble issues under (made at its start).
func pebbleRoots(t *testing.T, client *http.Client, mgmt string) *x509.CertPool {
	t.Helper()
	resp, err := client.Get("https://" + mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: no certificate in %q", b)
	}
	return pool
}

// served returns the serial number of the certificate Berth presents for
// host, verified against roots, or an error.
func served(addr string, roots *x509.CertPool) (string, time.Time, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		return "", time.Time{}, err
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	return leaf.SerialNumber.String(), leaf.NotAfter, nil
}

// serve runs Berth until the returned stop is called.
func serve(t *testing.T, cfg config.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	ready := make(chan struct{})
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() { done <- app.Serve(ctx, cfg, log, func(net.Addr) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not start")
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Logf("berth: %s", p); return len(p), nil }

// waitServed waits until Berth presents a certificate for host other than
// not, and returns its serial.
func waitServed(t *testing.T, addr string, roots *x509.CertPool, not string, within time.Duration) (string, time.Time) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		serial, notAfter, err := served(addr, roots)
		if err == nil && serial != not {
			return serial, notAfter
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new certificate for %s within %s (last: serial %s, err %v)", host, within, serial, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestACMEObtainRenewRestart: at its first start Berth obtains a
// certificate from Pebble (TLS-ALPN-01 on its own listener) and serves it,
// renews it before it expires, and after a restart serves the cached one
// without a new order. Run with each challenge and each cache.
func TestACMEObtainRenewRestart(t *testing.T) {
	for _, tt := range []struct{ challenge, cache string }{
		{config.ChallengeTLSALPN, config.ACMECacheDatabase},
		{config.ChallengeHTTP, config.ACMECacheDirectory},
	} {
		t.Run(tt.challenge+"/"+tt.cache, func(t *testing.T) {
			t.Parallel()
			tlsPort, httpPort := freePort(t), freePort(t)
			dir, caFile, mgmt, pc := pebble(t, tlsPort, httpPort)
			data := t.TempDir()
			env := map[string]string{
				"BERTH_DATA_DIR":                   data,
				"BERTH_HTTP_ADDR":                  net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)),
				"BERTH_EXTERNAL_URL":               fmt.Sprintf("https://%s:%d", host, tlsPort),
				"BERTH_ADMIN_PASSWORD":             "Admin12345",
				"BERTH_HTTP_TLS_ACME_DIRECTORY":    dir,
				"BERTH_HTTP_TLS_ACME_DIRECTORY_CA": caFile,
				"BERTH_HTTP_TLS_ACME_EMAIL":        "ops@" + host,
				"BERTH_HTTP_TLS_ACME_CHALLENGE":    tt.challenge,
				"BERTH_HTTP_TLS_ACME_CACHE":        tt.cache,
				"BERTH_HTTP_TLS_REDIRECT_ADDR":     net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
				"BERTH_SHUTDOWN_TIMEOUT":           "5s",
			}
			cfg, err := config.Load("", func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			addr := env["BERTH_HTTP_ADDR"]
			stop := serve(t, cfg)
			roots := pebbleRoots(t, pc, mgmt)
			first, notAfter := waitServed(t, addr, roots, "", time.Minute)
			if life := time.Until(notAfter); life > lifetime {
				t.Fatalf("certificate valid for %s, Pebble was told %s", life, lifetime)
			}
			t.Logf("first certificate %s, valid until %s", first, notAfter)
			second, secondNotAfter := waitServed(t, addr, roots, first, 2*lifetime)
			t.Logf("renewed: certificate %s", second)

			// HTTPS requests work with the certificate verified.
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}}}
			resp, err := hc.Get(cfg.ExternalURL + "/v2/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET /v2/ over the ACME certificate: %d, want 401", resp.StatusCode)
			}
			stop()

			// A restart serves the cached certificate at once.
			stop = serve(t, cfg)
			defer stop()
			serial, _, err := served(addr, roots)
			if err != nil {
				t.Fatalf("after a restart: %v", err)
			}
			// Unless the next renewal was already due, it is the cached one.
			if serial != second && time.Until(secondNotAfter) > lifetime/3+2*time.Second {
				t.Errorf("after a restart: certificate %s, want the cached %s", serial, second)
			}
		})
	}
}
