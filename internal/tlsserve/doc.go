// Package tlsserve holds Berth's HTTPS setup: the server's tls.Config
// (TLS 1.2+, AEAD suites, HTTP/2, optional client certificates), a
// certificate loaded from files and re-read when they change, the checks
// that make a bad certificate a clear startup error, an ACME client that
// obtains and renews certificates (TLS-ALPN-01 or HTTP-01) with a cache in
// a directory or any shared store, and the plain-HTTP redirect handler.
//
// It imports no Berth package: app adapts the metadata store to Cache.
package tlsserve
