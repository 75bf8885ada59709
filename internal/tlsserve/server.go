package tlsserve

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/crypto/acme"
)

// ServerOptions configure ServerConfig.
type ServerOptions struct {
	// GetCertificate picks the certificate for a handshake (FileCert or ACME).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCAs, when set, makes every client present a certificate
	// signed by one of them (mutual TLS).
	ClientCAs *x509.CertPool
	// ACME, when set, answers TLS-ALPN-01 challenges (without asking the
	// validator for a client certificate).
	ACME *ACME
}

// ServerConfig returns the listener's TLS configuration: TLS 1.2 or 1.3,
// forward-secret AEAD suites only, HTTP/2 preferred.
func ServerConfig(o ServerOptions) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// TLS 1.2 only; TLS 1.3's suites are all modern and not configurable.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: o.GetCertificate,
	}
	if o.ClientCAs != nil {
		c.ClientCAs = o.ClientCAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if o.ACME != nil {
		challenge := &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{acme.ALPNProto},
			GetCertificate: o.ACME.challengeCertificate,
		}
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if slices.Equal(hello.SupportedProtos, []string{acme.ALPNProto}) {
				return challenge, nil
			}
			return nil, nil // c itself
		}
	}
	return c
}

// Redirect answers every plain-HTTP request with a permanent redirect to
// the same path over HTTPS: on externalURL when set, else on the request's
// host with tlsPort ("443" is left out).
func Redirect(externalURL, tlsPort string) http.Handler {
	base := strings.TrimRight(externalURL, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := base
		if target == "" {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if strings.Contains(host, ":") { // IPv6 literal
				host = "[" + host + "]"
			}
			target = "https://" + host
			if tlsPort != "443" {
				target += ":" + tlsPort
			}
		}
		http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}
