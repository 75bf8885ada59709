package replication_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/config"
)

// cutter is a TCP proxy in front of a real destination that, once cutAt
// bytes have gone through towards it, cuts every connection and refuses
// new ones until resumed.
type cutter struct {
	ln     net.Listener
	target string
	cutAt  int64
	sent   atomic.Int64
	down   atomic.Bool
	cut    chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

// startCutter listens; set target before the first connection.
func startCutter(t *testing.T, cutAt int64) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, cutAt: cutAt, cut: make(chan struct{}), conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); c.closeAll() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			if c.down.Load() {
				in.Close()
				continue
			}
			go c.serve(in)
		}
	}()
	return c
}

func (c *cutter) addr() string { return c.ln.Addr().String() }

func (c *cutter) track(conns ...net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range conns {
		c.conns[cn] = true
	}
}

func (c *cutter) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for cn := range c.conns {
		cn.Close()
	}
	c.conns = map[net.Conn]bool{}
}

func (c *cutter) serve(in net.Conn) {
	out, err := net.Dial("tcp", c.target)
	if err != nil {
		in.Close()
		return
	}
	c.track(in, out)
	go func() { _, _ = io.Copy(in, out); in.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				break
			}
			if c.sent.Add(int64(n)) >= c.cutAt {
				c.once.Do(func() {
					c.down.Store(true)
					close(c.cut)
					c.closeAll()
				})
			}
		}
		if err != nil {
			break
		}
	}
	out.Close()
}

// TestPeerChunkedResumeAcrossAttempts: a 20 MiB blob copied in chunks to
// a second Berth; after 10 MiB the connection is cut and the destination
// stays unreachable until the task's attempt has failed. The next attempt
// asks the destination where the saved upload stands and sends only the
// rest; the digests match.
func TestPeerChunkedResumeAcrossAttempts(t *testing.T) {
	proxy := startCutter(t, 10<<20)
	a := apptest.Start(t)
	b := apptest.Start(t, func(c *config.Config) {
		// The destination's token realm goes through the proxy too (a
		// client refuses a realm on another private address than the
		// registry's).
		c.ExternalURL = "http://" + proxy.addr()
	})
	proxy.target = b.Addr
	img := pushRandom(t, a.Addr+"/library/huge:1", 20<<20, 1, adminAuth)
	dst := addRegistry(t, a, "b", "berth", "http://"+proxy.addr(), "admin", apptest.AdminPassword)
	pid := pushPolicy(t, a, "chunks", dst, nil, map[string]any{"copy_by_chunk": true, "speed": 8192})
	id := startExecution(t, a, pid)
	select {
	case <-proxy.cut:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the copy never sent 10 MiB\n%s", taskLogs(t, a, id))
	}
	// Down until the attempt has given up.
	if !apptest.Eventually(t, 2*time.Minute, func() bool { return strings.Contains(taskLogs(t, a, id), "failed, will retry") }) {
		t.Fatalf("the attempt did not fail while the destination was unreachable\n%s", taskLogs(t, a, id))
	}
	proxy.down.Store(false)
	e := waitExecution(t, a, id, 3*time.Minute)
	logs := taskLogs(t, a, id)
	if e.Status != "Succeed" {
		t.Fatalf("execution: %+v\n%s", e, logs)
	}
	if !strings.Contains(logs, "(the upload of an earlier attempt)") || strings.Contains(logs, "at byte 0 of") {
		t.Errorf("the second attempt did not resume the first one's upload:\n%s", logs)
	}
	if e.Bytes >= 20<<20 {
		t.Errorf("the last attempt sent %d bytes: the whole blob again", e.Bytes)
	}
	d, _ := img.Digest()
	if got, err := pullAll(t, proxy.addr()+"/library/huge:1"); err != nil || got != d.String() {
		t.Errorf("the destination's copy: %s, %v; want %s", got, err, d)
	}
	t.Logf("%s", logs)
}
