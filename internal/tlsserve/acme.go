package tlsserve

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
)

// Challenge types.
const (
	ChallengeTLSALPN = "tls-alpn-01"
	ChallengeHTTP    = "http-01"
)

// ErrCacheMiss is what a Cache returns for a key it does not hold.
var ErrCacheMiss = errors.New("acme cache: miss")

// Cache keeps the ACME account key, the certificates and pending challenge
// answers. A cache shared by replicas (the database) lets any replica
// answer a challenge another one started and serve what another renewed.
type Cache interface {
	// Get returns the value under key, or ErrCacheMiss.
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// DirCache is a Cache in a directory, one file (mode 0600) per key.
type DirCache string

var _ Cache = DirCache("")

func (d DirCache) path(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, `/\`) || strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("acme cache: bad key %q", key)
	}
	return filepath.Join(string(d), key), nil
}

// Get reads key's file.
func (d DirCache) Get(_ context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrCacheMiss
	}
	return b, err
}

// Put writes key's file atomically.
func (d DirCache) Put(_ context.Context, key string, data []byte) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("acme cache: %w", err)
	}
	tmp, err := os.CreateTemp(string(d), ".tmp-*")
	if err != nil {
		return fmt.Errorf("acme cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("acme cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("acme cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("acme cache: %w", err)
	}
	return nil
}

// Delete removes key's file.
func (d DirCache) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("acme cache: %w", err)
	}
	return nil
}

// ACMEOptions configure NewACME.
type ACMEOptions struct {
	Directory string         // the ACME server's directory URL
	Roots     *x509.CertPool // CAs trusted for the ACME server; nil: the system's
	Email     string         // account contact; may be empty
	Hosts     []string       // names certificates are obtained for
	Challenge string         // ChallengeTLSALPN or ChallengeHTTP
	Cache     Cache
	Log       *slog.Logger
}

// Cache keys.
const (
	keyAccount    = "account-key"
	suffixALPN    = "+tls-alpn-01"
	prefixHTTPTok = "http-01+"
)

// ACME obtains a certificate for each host from an ACME server (RFC 8555,
// golang.org/x/crypto/acme) and renews it when a third of its lifetime (at
// most 30 days) is left. Certificates are kept in the cache, so a restart
// or another replica reuses them.
type ACME struct {
	opts ACMEOptions
	now  func() time.Time

	mu    sync.RWMutex
	certs map[string]*tls.Certificate // by host
	alpn  map[string]*tls.Certificate // pending TLS-ALPN-01 answers, by host
}

// NewACME checks the options; Run does the work.
func NewACME(o ACMEOptions) (*ACME, error) {
	if o.Directory == "" || len(o.Hosts) == 0 || o.Cache == nil {
		return nil, errors.New("acme: directory, hosts and cache are required")
	}
	if o.Challenge != ChallengeTLSALPN && o.Challenge != ChallengeHTTP {
		return nil, fmt.Errorf("acme: challenge %q: want %s or %s", o.Challenge, ChallengeTLSALPN, ChallengeHTTP)
	}
	hosts := make([]string, len(o.Hosts))
	for i, h := range o.Hosts {
		hosts[i] = strings.ToLower(strings.TrimSuffix(h, "."))
		if hosts[i] == "" || strings.ContainsAny(hosts[i], `/\:`) {
			return nil, fmt.Errorf("acme: host %q is not a DNS name", h)
		}
	}
	o.Hosts = hosts
	return &ACME{opts: o, now: time.Now, certs: map[string]*tls.Certificate{}, alpn: map[string]*tls.Certificate{}}, nil
}

// renewAt is when a certificate should be replaced: when a third of its
// lifetime, and at most 30 days, is left.
func renewAt(leaf *x509.Certificate) time.Time {
	left := min(leaf.NotAfter.Sub(leaf.NotBefore)/3, 30*24*time.Hour)
	return leaf.NotAfter.Add(-left)
}

// Run keeps a valid certificate for every host until ctx ends: it loads
// them from the cache and obtains or renews those due, then sleeps until
// the next is due. Start it once the TLS listener accepts connections
// (TLS-ALPN-01 is answered there).
func (m *ACME) Run(ctx context.Context) {
	var client *acme.Client
	for {
		next := m.now().Add(time.Hour) // look at the cache now and then: another replica may renew
		for _, host := range m.opts.Hosts {
			at, err := m.ensure(ctx, &client, host)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				m.opts.Log.ErrorContext(ctx, "acme certificate not obtained, will retry", "host", host, "err", err)
				at = m.now().Add(retryAfter(m.current(host), m.now()))
			}
			if at.Before(next) {
				next = at
			}
		}
		t := time.NewTimer(max(time.Until(next), time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// retryAfter is how long to wait after a failure: a minute, less when the
// current certificate has little time left.
func retryAfter(cur *tls.Certificate, now time.Time) time.Duration {
	d := time.Minute
	if cur != nil {
		d = min(d, max(cur.Leaf.NotAfter.Sub(now)/4, 5*time.Second))
	}
	return d
}

func (m *ACME) current(host string) *tls.Certificate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.certs[host]
}

// ensure makes sure host has a certificate that is not due for renewal,
// from memory, the cache or the ACME server; it returns when it is due.
func (m *ACME) ensure(ctx context.Context, client **acme.Client, host string) (time.Time, error) {
	if c := m.current(host); c != nil && m.now().Before(renewAt(c.Leaf)) {
		return renewAt(c.Leaf), nil
	}
	if c, err := m.cached(ctx, host); err == nil && m.now().Before(renewAt(c.Leaf)) {
		m.set(host, c)
		return renewAt(c.Leaf), nil
	}
	if *client == nil {
		cl, err := m.register(ctx)
		if err != nil {
			return time.Time{}, err
		}
		*client = cl
	}
	c, err := m.obtain(ctx, *client, host)
	if err != nil {
		return time.Time{}, err
	}
	m.set(host, c)
	m.opts.Log.InfoContext(ctx, "acme certificate obtained", "host", host, "not_after", c.Leaf.NotAfter, "renew_at", renewAt(c.Leaf))
	return renewAt(c.Leaf), nil
}

func (m *ACME) set(host string, c *tls.Certificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.certs[host] = c
}

// cached returns host's certificate from the cache if it is usable now.
func (m *ACME) cached(ctx context.Context, host string) (*tls.Certificate, error) {
	b, err := m.opts.Cache.Get(ctx, host)
	if err != nil {
		return nil, err
	}
	c, err := parsePair(b, b)
	if err != nil {
		return nil, fmt.Errorf("acme cache %s: %w", host, err)
	}
	if err := Check(c.Leaf, host, m.now()); err != nil {
		return nil, err
	}
	return c, nil
}

// register loads or makes the account key and registers the account
// (an existing account is found again by its key).
func (m *ACME) register(ctx context.Context) (*acme.Client, error) {
	key, err := m.accountKey(ctx)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if m.opts.Roots != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: m.opts.Roots, MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	client := &acme.Client{Key: key, DirectoryURL: m.opts.Directory, HTTPClient: hc, UserAgent: "berth"}
	acct := &acme.Account{}
	if m.opts.Email != "" {
		acct.Contact = []string{"mailto:" + m.opts.Email}
	}
	if _, err := client.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("acme: register account at %s: %w", m.opts.Directory, err)
	}
	return client, nil
}

func (m *ACME) accountKey(ctx context.Context) (crypto.Signer, error) {
	b, err := m.opts.Cache.Get(ctx, keyAccount)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, errors.New("acme cache: account key is not PEM")
		}
		k, err := x509.ParseECPrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("acme cache: account key: %w", err)
		}
		return k, nil
	}
	if !errors.Is(err, ErrCacheMiss) {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := m.opts.Cache.Put(ctx, keyAccount, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
		return nil, err
	}
	return k, nil
}

// obtain runs one order for host: authorize with the configured
// challenge, finalize with a fresh key, store the result in the cache.
func (m *ACME) obtain(ctx context.Context, client *acme.Client, host string) (*tls.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(host))
	if err != nil {
		return nil, fmt.Errorf("acme: new order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		if err := m.authorize(ctx, client, host, u); err != nil {
			return nil, err
		}
	}
	if order, err = client.WaitOrder(ctx, order.URI); err != nil {
		return nil, fmt.Errorf("acme: order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{host}}, key)
	if err != nil {
		return nil, err
	}
	chain, _, err := client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return nil, fmt.Errorf("acme: finalize: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	for _, c := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	c, err := parsePair(out, out)
	if err != nil {
		return nil, fmt.Errorf("acme: issued certificate: %w", err)
	}
	if err := Check(c.Leaf, host, m.now()); err != nil {
		return nil, fmt.Errorf("acme: issued certificate: %w", err)
	}
	if err := m.opts.Cache.Put(ctx, host, out); err != nil {
		return nil, err
	}
	return c, nil
}

func (m *ACME) authorize(ctx context.Context, client *acme.Client, host, authzURL string) error {
	z, err := client.GetAuthorization(ctx, authzURL)
	if err != nil {
		return fmt.Errorf("acme: authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	var chal *acme.Challenge
	for _, c := range z.Challenges {
		if c.Type == m.opts.Challenge {
			chal = c
		}
	}
	if chal == nil {
		return fmt.Errorf("acme: the server offers no %s challenge for %s", m.opts.Challenge, host)
	}
	switch m.opts.Challenge {
	case ChallengeTLSALPN:
		cert, err := client.TLSALPN01ChallengeCert(chal.Token, host)
		if err != nil {
			return err
		}
		if err := m.putALPN(ctx, host, &cert); err != nil {
			return err
		}
		defer m.dropALPN(host)
	case ChallengeHTTP:
		body, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return err
		}
		key := prefixHTTPTok + chal.Token
		if err := m.opts.Cache.Put(ctx, key, []byte(body)); err != nil {
			return err
		}
		defer func() { _ = m.opts.Cache.Delete(context.WithoutCancel(ctx), key) }()
	}
	if _, err := client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("acme: accept %s: %w", chal.Type, err)
	}
	if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("acme: %s for %s: %w", chal.Type, host, err)
	}
	return nil
}

// putALPN keeps the challenge certificate in memory and in the cache, for
// a validator that reaches another replica.
func (m *ACME) putALPN(ctx context.Context, host string, cert *tls.Certificate) error {
	m.mu.Lock()
	m.alpn[host] = cert
	m.mu.Unlock()
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil // kept in memory only
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	for _, c := range cert.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return m.opts.Cache.Put(ctx, host+suffixALPN, out)
}

func (m *ACME) dropALPN(host string) {
	m.mu.Lock()
	delete(m.alpn, host)
	m.mu.Unlock()
	_ = m.opts.Cache.Delete(context.Background(), host+suffixALPN)
}

func (m *ACME) hostOf(hello *tls.ClientHelloInfo) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name == "" { // a client dialing an address: the first host
		return m.opts.Hosts[0], nil
	}
	for _, h := range m.opts.Hosts {
		if h == name {
			return h, nil
		}
	}
	return "", fmt.Errorf("acme: %q is not among http.tls.acme.hosts", name)
}

// GetCertificate is tls.Config.GetCertificate: the host's certificate
// once obtained.
func (m *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	host, err := m.hostOf(hello)
	if err != nil {
		return nil, err
	}
	if c := m.current(host); c != nil {
		return c, nil
	}
	// Another replica may have obtained it.
	if c, err := m.cached(hello.Context(), host); err == nil {
		m.set(host, c)
		return c, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoCertificate, host)
}

// challengeCertificate answers a TLS-ALPN-01 validation handshake.
func (m *ACME) challengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	host, err := m.hostOf(hello)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	c := m.alpn[host]
	m.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	b, err := m.opts.Cache.Get(hello.Context(), host+suffixALPN)
	if err != nil {
		return nil, fmt.Errorf("acme: no pending tls-alpn-01 challenge for %s", host)
	}
	cert, err := tls.X509KeyPair(b, b)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

// HTTPHandler answers HTTP-01 challenges under /.well-known/acme-challenge/
// and passes every other request to next.
func (m *ACME) HTTPHandler(next http.Handler) http.Handler {
	const prefix = "/.well-known/acme-challenge/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if tok == "" || len(tok) > 256 || strings.ContainsAny(tok, `/\.`) {
			http.NotFound(w, r)
			return
		}
		b, err := m.opts.Cache.Get(r.Context(), prefixHTTPTok+tok)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(b)
	})
}
