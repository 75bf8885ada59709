package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/tlsserve"
)

// tlsSetup is what serving HTTPS needs beyond the main server: its TLS
// configuration, the optional ACME client and the optional plain-HTTP
// redirect listener.
type tlsSetup struct {
	config   *tls.Config
	acme     *tlsserve.ACME
	redirect *http.Server
	redirLn  net.Listener
}

// newTLS checks the certificate setup and builds the TLS configuration;
// nil when Berth serves plain HTTP. A bad certificate is an error here,
// before anything listens.
func newTLS(cfg config.Config, store *meta.Store, tlsAddr string, log *slog.Logger) (*tlsSetup, error) {
	t := cfg.HTTP.TLS
	if !t.Enabled() {
		return nil, nil
	}
	host := ""
	if u, err := url.Parse(cfg.ExternalURL); err == nil {
		host = u.Hostname()
	}
	s := &tlsSetup{}
	opts := tlsserve.ServerOptions{}
	if t.ACME.Enabled() {
		var cache tlsserve.Cache = tlsserve.DirCache(t.ACME.CacheDir)
		if t.ACME.Cache == config.ACMECacheDatabase {
			cache = acmeDBCache{store.ACME}
		}
		var roots *x509.CertPool
		if t.ACME.DirectoryCA != "" {
			b, err := os.ReadFile(t.ACME.DirectoryCA)
			if err != nil {
				return nil, fmt.Errorf("http.tls.acme.directory_ca: %w", err)
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("http.tls.acme.directory_ca %s: %w", t.ACME.DirectoryCA, tlsserve.ErrNoClientCAs)
			}
		}
		m, err := tlsserve.NewACME(tlsserve.ACMEOptions{
			Directory: t.ACME.Directory, Roots: roots, Email: t.ACME.Email, Hosts: t.ACME.Hosts,
			Challenge: t.ACME.Challenge, Cache: cache, Log: log,
		})
		if err != nil {
			return nil, err
		}
		s.acme, opts.ACME, opts.GetCertificate = m, m, m.GetCertificate
	} else {
		fc, err := tlsserve.LoadFiles(t.Certificate, t.Key, host, log)
		if err != nil {
			return nil, err
		}
		opts.GetCertificate = fc.GetCertificate
	}
	if t.ClientCAs != "" {
		pool, err := tlsserve.LoadClientCAs(t.ClientCAs)
		if err != nil {
			return nil, err
		}
		opts.ClientCAs = pool
	}
	s.config = tlsserve.ServerConfig(opts)
	if t.RedirectAddr != "" {
		_, port, err := net.SplitHostPort(tlsAddr)
		if err != nil {
			return nil, fmt.Errorf("http.addr: %w", err)
		}
		var h http.Handler = tlsserve.Redirect(cfg.ExternalURL, port)
		if s.acme != nil {
			h = s.acme.HTTPHandler(h)
		}
		s.redirect = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: cfg.HTTP.IdleTimeout,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		if s.redirLn, err = net.Listen("tcp", t.RedirectAddr); err != nil {
			return nil, fmt.Errorf("listen http.tls.redirect_addr: %w", err)
		}
	}
	return s, nil
}

// serve runs srv on ln, over TLS when s is not nil, plus the redirect
// listener and the ACME client, until srv stops.
func (s *tlsSetup) serve(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) error {
	if s == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = s.config
	if s.redirect != nil {
		go func() {
			if err := s.redirect.Serve(s.redirLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("redirect listener stopped", "err", err)
			}
		}()
		defer s.redirect.Close()
	}
	if s.acme != nil {
		actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		go s.acme.Run(actx)
	}
	return srv.ServeTLS(ln, "", "") // adds HTTP/2; certificates come from GetCertificate
}

// acmeDBCache is the ACME cache in the metadata database, shared by replicas.
type acmeDBCache struct{ c *meta.ACMECache }

func (d acmeDBCache) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := d.c.Get(ctx, key)
	if errors.Is(err, meta.ErrCacheMiss) {
		return nil, tlsserve.ErrCacheMiss
	}
	return b, err
}

func (d acmeDBCache) Put(ctx context.Context, key string, data []byte) error {
	return d.c.Put(ctx, key, data)
}

func (d acmeDBCache) Delete(ctx context.Context, key string) error { return d.c.Delete(ctx, key) }
