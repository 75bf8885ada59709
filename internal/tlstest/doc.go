// Package tlstest holds the tests of Berth's automatic certificates
// against a real ACME server: Pebble and its mock DNS server, started by
// the test on loopback (scripts/test's tls step installs both). It has no
// non-test code.
package tlstest
