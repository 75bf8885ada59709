package replication

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Registry types (Harbor's adapter names where Harbor has them).
const (
	TypeBerth          = "berth"
	TypeHarbor         = "harbor"
	TypeDockerRegistry = "docker-registry" // CNCF Distribution
	TypeDockerHub      = "docker-hub"      // single-name repositories get library/
	TypeOCI            = "oci"             // any other OCI Distribution v2 registry
)

// Credential types.
const (
	CredentialBasic = "basic"  // access_key/access_secret as username/password
	CredentialToken = "secret" // access_secret is a bearer token sent as is
)

// ErrInvalid: a registry or policy definition the caller must fix.
var ErrInvalid = errors.New("invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Endpoint is a registry as the copier reaches it: the secret in plain
// text, in memory only.
type Endpoint struct {
	Type           string
	URL            string
	CredentialType string
	AccessKey      string
	Secret         string
	Insecure       bool
	CABundle       string
}

// bearerHeader sends a registry token with every request (the local
// Berth, with a token minted per task). The token is not handed to
// go-containerregistry's bearer flow: that flow would follow the realm of
// the server's challenge, which names the external URL, and refuses a
// realm on another private host than the one dialled (loopback).
// Only requests to host carry it (a blob GET redirected to object
// storage must not).
type bearerHeader struct {
	next  http.RoundTripper
	host  string
	token string
}

func (b *bearerHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == b.host {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// checkEndpoint validates e's type, URL and credentials.
func checkEndpoint(e Endpoint) error {
	switch e.Type {
	case TypeBerth, TypeHarbor, TypeDockerRegistry, TypeDockerHub, TypeOCI:
	default:
		return invalidf("type must be one of berth, harbor, docker-registry, docker-hub, oci")
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidf("url must be an http or https URL with a host")
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return invalidf("url must name only a scheme, host and port")
	}
	switch e.CredentialType {
	case "", CredentialBasic, CredentialToken:
	default:
		return invalidf("credential.type must be basic or secret")
	}
	if len(e.AccessKey) > 1024 || len(e.Secret) > 16<<10 || len(e.CABundle) > 256<<10 {
		return invalidf("credential or CA bundle too long")
	}
	if e.CABundle != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(e.CABundle)) {
		return invalidf("ca_bundle holds no PEM certificate")
	}
	return nil
}

// client is one registry as go-containerregistry reaches it.
type client struct {
	e    Endpoint
	reg  name.Registry
	base http.RoundTripper

	// reuse keeps go-containerregistry's transports (a ping and a token
	// per repository and scope) for the client's life: one task, one
	// scan. Without it every call pings and fetches a token again.
	reuse  sync.Once
	puller *remote.Puller
	pusher *remote.Pusher
}

func newClient(e Endpoint, wrap func(http.RoundTripper) http.RoundTripper) (*client, error) {
	u, err := url.Parse(e.URL)
	if err != nil {
		return nil, invalidf("url: %v", err)
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(u.Host, opts...)
	if err != nil {
		return nil, invalidf("url: %v", err)
	}
	var rt http.RoundTripper = sharedTransport(u, e)
	if wrap != nil {
		rt = wrap(rt)
	}
	return &client{e: e, reg: reg, base: rt}, nil
}

// transports are shared by every client of the same URL and TLS
// settings, so that connections are reused across tasks and pulls.
var transports sync.Map // string -> *http.Transport

func sharedTransport(u *url.URL, e Endpoint) *http.Transport {
	sum := sha256.Sum256([]byte(e.CABundle))
	key := u.Scheme + "://" + u.Host + "|" + strconv.FormatBool(e.Insecure) + "|" + hex.EncodeToString(sum[:8])
	if tr, ok := transports.Load(key); ok {
		return tr.(*http.Transport)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 60 * time.Second
	tr.MaxIdleConnsPerHost = 32
	if u.Scheme == "https" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: e.Insecure} //nolint:gosec // the operator's choice per endpoint ("Verify Remote Cert" off)
		if e.CABundle != "" {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AppendCertsFromPEM([]byte(e.CABundle))
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	got, _ := transports.LoadOrStore(key, tr)
	return got.(*http.Transport)
}

func (c *client) auth() authn.Authenticator {
	switch {
	case c.e.CredentialType == CredentialToken && c.e.Secret != "":
		return authn.FromConfig(authn.AuthConfig{RegistryToken: c.e.Secret})
	case c.e.AccessKey != "" || c.e.Secret != "":
		return authn.FromConfig(authn.AuthConfig{Username: c.e.AccessKey, Password: c.e.Secret})
	}
	return authn.Anonymous
}

func (c *client) options(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(c.auth()), remote.WithTransport(c.base),
		remote.WithUserAgent("berth-replication"), remote.WithJobs(4),
		remote.WithRetryBackoff(remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 3})}
	c.reuse.Do(func() {
		c.puller, _ = remote.NewPuller(opts...) // fails only on bad options
		c.pusher, _ = remote.NewPusher(opts...)
	})
	if c.puller != nil {
		opts = append(opts, remote.Reuse(c.puller))
	}
	if c.pusher != nil {
		opts = append(opts, remote.Reuse(c.pusher))
	}
	return opts
}

// repo names repository path on this registry; Docker Hub's single-name
// repositories live under library/.
func (c *client) repo(path string) (name.Repository, error) {
	if c.e.Type == TypeDockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	r, err := name.NewRepository(c.reg.RegistryStr()+"/"+path, insecureOpt(c.reg)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %q: %w", path, err)
	}
	return r, nil
}

func insecureOpt(reg name.Registry) []name.Option {
	if reg.Scheme() == "http" {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ping checks that the registry answers its base endpoint with these
// credentials (Harbor's "Test connection").
func (c *client) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	rt, err := transport.NewWithContext(ctx, c.reg, c.auth(), c.base, nil)
	if err != nil {
		return fmt.Errorf("registry %s: %w", c.reg.RegistryStr(), scrub(err, c.e.Secret))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.reg.Scheme()+"://"+c.reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("registry %s: %w", c.reg.RegistryStr(), scrub(err, c.e.Secret))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("registry %s answered %s to /v2/", c.reg.RegistryStr(), resp.Status)
	}
	return nil
}

// scrub removes secret from err's message (a library error that quotes
// a request must not carry it into a log or a response).
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "*****"))
}
