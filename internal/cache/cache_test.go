package cache

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testenv"
)

func TestRedis(t *testing.T) {
	url := testenv.Require(t, "BERTH_TEST_REDIS")
	r, err := OpenRedis(url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := t.Context()
	key := "test:" + t.Name() + time.Now().String()
	if _, ok := r.Get(ctx, key); ok {
		t.Fatal("hit before Set")
	}
	r.Set(ctx, key, []byte("v"), time.Minute)
	if v, ok := r.Get(ctx, key); !ok || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	r.Delete(ctx, key)
	if _, ok := r.Get(ctx, key); ok {
		t.Fatal("hit after Delete")
	}
}

// TestRedisDown: with nothing listening every call is a fast miss, not an error.
func TestRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, err := OpenRedis("redis://"+addr+"/0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	r.Set(t.Context(), "k", []byte("v"), time.Minute)
	if _, ok := r.Get(t.Context(), "k"); ok {
		t.Fatal("hit with Redis down")
	}
	r.Delete(t.Context(), "k")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("calls with Redis down took %v", d)
	}
}
