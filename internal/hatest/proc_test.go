package hatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testenv"
)

// proc is one supervised child process. It runs in its own process group
// (so a kill reaches anything it forks), dies with the test binary
// (Pdeathsig), and appends its stdout and stderr to a log file that
// survives restarts.
type proc struct {
	name string
	path string
	args []string
	env  []string // nil: the test's environment
	dir  string   // working directory
	log  string   // log file path

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
}

// start runs the process; it is an error to start one that is running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil && !closed(p.done) {
		return fmt.Errorf("%s: already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy
	fmt.Fprintf(f, "==== hatest %s: start %s %s\n", time.Now().Format(time.RFC3339Nano), p.path, strings.Join(p.args, " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = p.dir, p.env, f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		if f, ferr := os.OpenFile(p.log, os.O_WRONLY|os.O_APPEND, 0); ferr == nil {
			fmt.Fprintf(f, "==== hatest %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), err)
			f.Close()
		}
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// running reports whether the process started last is still alive.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done != nil && !closed(p.done)
}

// kill SIGKILLs the process group and waits for the process to exit.
// Killing a process that is not running is a no-op.
func (p *proc) kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if done == nil || closed(done) {
		return nil
	}
	// The group first (the child is its leader), then the child itself in
	// case it left the group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
	select {
	case <-done:
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 15s after SIGKILL", p.name, cmd.Process.Pid)
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// portPicker hands out loopback ports that are free now, never the same
// one twice. With grpc set, port+10000 is free too: SeaweedFS puts a
// component's gRPC listener there.
type portPicker struct {
	mu   sync.Mutex
	used map[int]bool
}

func (pp *portPicker) pick(tb testing.TB, grpc bool) int {
	tb.Helper()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.used == nil {
		pp.used = map[int]bool{}
	}
	for range 500 {
		// Below the ephemeral range (32768+) so outgoing connections do
		// not take the port between this check and the bind.
		p := 20000 + rand.IntN(12000)
		if pp.used[p] || pp.used[p+10000] || !portFree(p) || (grpc && !portFree(p+10000)) {
			continue
		}
		pp.used[p] = true
		if grpc {
			pp.used[p+10000] = true
		}
		return p
	}
	tb.Fatal("no free loopback port found")
	return 0
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// waitFor polls check every 100ms until it returns nil, the timeout passes,
// or p (when not nil) exits.
func waitFor(ctx context.Context, what string, timeout time.Duration, p *proc, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		if p != nil && !p.running() {
			return fmt.Errorf("%s: %s exited (see %s): last check: %v", what, p.name, p.log, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not ready after %v: %w", what, timeout, errors.Join(ctx.Err(), last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// berthBinary is BERTH_TEST_BERTH_BIN, or a berth built now into a
// temporary directory.
func berthBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("BERTH_TEST_BERTH_BIN"); p != "" {
		return p
	}
	out := tb.TempDir() + "/berth"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/berth-registry/berth/cmd/berth")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build berth: %v\n%s", err, b)
	}
	return out
}

// requireWeed is BERTH_TEST_WEED, checked to be an executable.
func requireWeed(tb testing.TB) string {
	tb.Helper()
	p := testenv.Require(tb, "BERTH_TEST_WEED")
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		tb.Fatalf("BERTH_TEST_WEED=%s is not an executable file (%v)", p, err)
	}
	return p
}

// baseEnv is the test's environment without BERTH_* variables, so a
// developer's own settings never leak into a replica.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	return env
}
