package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSlowDownload: a blob download the client keeps reading, slowly,
// outlives the write timeout several times over (the deadline follows
// progress also when the file goes to the socket with sendfile), and every
// byte arrives.
func TestSlowDownload(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := testConfig(t)
	cfg.HTTP.WriteTimeout = time.Second
	addr, _ := startServe(t, ctx, cfg)
	// The first Basic login hashes the password (argon2id), which on a
	// busy machine may outlast the one-second timeout and cut the answer:
	// try again (the login is then cached). A public project lets the
	// download go without a login.
	for i := 0; ; i++ {
		res, err := adminDo(http.MethodPost, "http://"+addr+"/api/v2.0/projects",
			strings.NewReader(`{"project_name":"lib","metadata":{"public":"true"}}`))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusCreated || res.StatusCode == http.StatusConflict {
				break
			}
			t.Fatalf("create project: %d", res.StatusCode)
		}
		if i == 10 {
			t.Fatalf("create project: %v", err)
		}
	}
	// Far more than the socket buffers hold, so the server is still
	// sending when the timeout has passed.
	data := make([]byte, 16<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	res, err := adminDo(http.MethodPost, "http://"+addr+"/v2/lib/app/blobs/uploads/?digest="+dgst, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("push: %d", res.StatusCode)
	}

	// A small receive buffer keeps the kernel from holding megabytes the
	// client has not read (loopback autotunes it): what the server sends
	// then follows what the client reads.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 128<<10)
		})
		return errors.Join(err, serr)
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/lib/app/blobs/"+dgst, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	// 256 KiB every 50 ms: at least 3 s, three times the timeout.
	start := time.Now()
	h := sha256.New()
	var got int64
	for {
		n, err := io.CopyN(h, res.Body, 256<<10)
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes and %s: %v", got, time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got != int64(len(data)) || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("got %d bytes, want %d (digest equal %v)", got, len(data), bytes.Equal(h.Sum(nil), sum[:]))
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("download took %s: too fast to have outlived the timeout", d)
	}
}
