package tlsserve

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Problems with a certificate, matched with errors.Is.
var (
	ErrKeyMismatch    = errors.New("private key does not match the certificate")
	ErrExpired        = errors.New("certificate has expired")
	ErrNotYetValid    = errors.New("certificate is not valid yet")
	ErrHostNotCovered = errors.New("certificate does not cover the host")
	ErrNoCertificate  = errors.New("no certificate for this host yet")
	ErrNoClientCAs    = errors.New("no CA certificate found")
)

// recheckEvery bounds how often the files are looked at: at most once per
// interval, during a handshake.
const recheckEvery = time.Second

// FileCert is a certificate and key read from PEM files. New connections
// get the files' current contents: they are read again (at most once a
// second, during a handshake) and a changed pair replaces the old one once
// it loads and passes the checks. Connections already open keep theirs.
type FileCert struct {
	certFile, keyFile string
	host              string // from external_url; "" checks no name
	log               *slog.Logger
	now               func() time.Time

	mu       sync.Mutex
	cert     *tls.Certificate
	certPEM  []byte // what cert was made from
	keyPEM   []byte
	lastLook time.Time
}

// LoadFiles reads and checks the pair. host, when not empty, is the name
// the certificate must cover (external_url's host). A missing or
// unreadable file, a key that does not match, an expired or not yet valid
// certificate, or one that does not cover host is an error that names the
// file.
func LoadFiles(certFile, keyFile, host string, log *slog.Logger) (*FileCert, error) {
	f := &FileCert{certFile: certFile, keyFile: keyFile, host: host, log: log, now: time.Now}
	certPEM, keyPEM, err := f.read()
	if err != nil {
		return nil, err
	}
	c, err := f.parse(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	f.cert, f.certPEM, f.keyPEM, f.lastLook = c, certPEM, keyPEM, f.now()
	return f, nil
}

func (f *FileCert) read() (certPEM, keyPEM []byte, err error) {
	certPEM, err = os.ReadFile(f.certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("http.tls.certificate: %w", err)
	}
	keyPEM, err = os.ReadFile(f.keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("http.tls.key: %w", err)
	}
	return certPEM, keyPEM, nil
}

func (f *FileCert) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("http.tls.certificate %s, http.tls.key %s: %w", f.certFile, f.keyFile, err)
	}
	if err := Check(c.Leaf, f.host, f.now()); err != nil {
		return nil, fmt.Errorf("http.tls.certificate %s: %w", f.certFile, err)
	}
	return c, nil
}

// parsePair is tls.X509KeyPair with errors callers can tell apart.
func parsePair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if bytes.Contains([]byte(err.Error()), []byte("does not match")) {
			return nil, fmt.Errorf("%w (%w)", ErrKeyMismatch, err)
		}
		return nil, err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// Check reports why leaf cannot be served at now for host ("" checks no
// name): ErrExpired, ErrNotYetValid or ErrHostNotCovered.
func Check(leaf *x509.Certificate, host string, now time.Time) error {
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("%w: it expired at %s", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("%w: it is valid from %s", ErrNotYetValid, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if host != "" {
		if err := leaf.VerifyHostname(host); err != nil {
			return fmt.Errorf("%w %q of external_url: it names %v %v", ErrHostNotCovered, host, leaf.DNSNames, leaf.IPAddresses)
		}
	}
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the current pair, re-read
// first when the files changed.
func (f *FileCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.lastLook) >= recheckEvery {
		f.lastLook = now
		f.reloadLocked()
	}
	return f.cert, nil
}

// reloadLocked replaces the pair when the files hold a different one that
// loads and passes the checks. A pair caught half-written, or a bad one,
// is logged and the old one kept: the next look tries again.
func (f *FileCert) reloadLocked() {
	certPEM, keyPEM, err := f.read()
	if err == nil && bytes.Equal(certPEM, f.certPEM) && bytes.Equal(keyPEM, f.keyPEM) {
		return
	}
	var c *tls.Certificate
	if err == nil {
		c, err = f.parse(certPEM, keyPEM)
	}
	if err != nil {
		f.log.Error("tls certificate files changed but cannot be used, serving the previous certificate", "err", err)
		return
	}
	f.cert, f.certPEM, f.keyPEM = c, certPEM, keyPEM
	f.log.Info("tls certificate reloaded", "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter)
}

// LoadClientCAs reads a PEM file of CA certificates for mutual TLS.
func LoadClientCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("http.tls.clientcas: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("http.tls.clientcas %s: %w", path, ErrNoClientCAs)
	}
	return pool, nil
}
