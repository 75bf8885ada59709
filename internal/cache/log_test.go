package cache

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testenv"
)

// syncBuffer is a log destination shared by go-redis's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// messages returns the msg of each JSON line logged so far.
func (s *syncBuffer) messages(t *testing.T) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m struct{ Msg string }
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON (an unstructured library line?): %s", l)
		}
		out = append(out, m.Msg)
	}
	return out
}

func countMsg(msgs []string, msg string) int {
	n := 0
	for _, m := range msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// TestRedisDownLogsOnce: with nothing listening, many cache calls log one
// warning at info level and nothing else; go-redis's own lines (one per
// failed dial) arrive as structured debug records, not on stderr.
func TestRedisDownLogsOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var buf syncBuffer
			r, err := OpenRedis("redis://"+addr+"/0", slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for range 20 {
				r.Get(t.Context(), "k")
				r.Set(t.Context(), "k", []byte("v"), time.Minute)
			}
			msgs := buf.messages(t)
			if n := countMsg(msgs, msgUnavailable); n != 1 {
				t.Errorf("%d outage warnings for 40 failed calls, want 1: %q", n, msgs)
			}
			switch level {
			case slog.LevelInfo:
				if len(msgs) != 1 {
					t.Errorf("%d lines at info level, want 1: %q", len(msgs), msgs)
				}
			case slog.LevelDebug:
				if countMsg(msgs, msgClient) == 0 {
					t.Errorf("go-redis's own messages did not reach slog: %q", msgs)
				}
			}
		})
	}
}

// TestRedisOutageWarnsOncePerOutage cuts a real Redis off twice: each
// outage logs one warning, each recovery one info line.
func TestRedisOutageWarnsOncePerOutage(t *testing.T) {
	u, err := url.Parse(testenv.Require(t, "BERTH_TEST_REDIS"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	var buf syncBuffer
	r, err := OpenRedis(u.String(), slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	key := "test:" + t.Name() + time.Now().String()
	calls := func() {
		for range 10 {
			r.Set(t.Context(), key, []byte("v"), time.Minute)
			r.Get(t.Context(), key)
		}
	}
	calls()
	for range 2 {
		proxy.SetDown(true)
		calls()
		proxy.SetDown(false)
		calls()
	}
	msgs := buf.messages(t)
	if countMsg(msgs, msgUnavailable) != 2 || countMsg(msgs, msgAvailable) != 2 || len(msgs) != 4 {
		t.Errorf("two outages logged %q; want one warning and one recovery line each", msgs)
	}
}
