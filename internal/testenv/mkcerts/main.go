// Command mkcerts writes a throwaway test CA and certificates for
// scripts/test's TLS step:
//
//	go run ./internal/testenv/mkcerts DIR HOST...
//
// DIR/ca.pem (the CA), DIR/server.pem and DIR/server-key.pem (for HOST...),
// DIR/client.pem and DIR/client-key.pem (a client certificate of the same CA).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/internal/testenv/testca"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: mkcerts DIR HOST...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkcerts:", err)
		os.Exit(1)
	}
}

func run(dir string, hosts []string) error {
	ca, err := testca.New("berth test CA")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	srv, err := ca.Issue(testca.Options{CommonName: hosts[0], Hosts: hosts})
	if err != nil {
		return err
	}
	if err := srv.WriteFiles(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")); err != nil {
		return err
	}
	cl, err := ca.Issue(testca.Options{CommonName: "berth test client", Client: true})
	if err != nil {
		return err
	}
	return cl.WriteFiles(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
}
