// Package cache is Berth's optional shared cache (Redis). It is only ever
// an accelerator: every method degrades to a miss or a no-op when Redis is
// unreachable, logging a warning at most once per interval, so requests go
// on uncached instead of failing.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a cache on a Redis server.
type Redis struct {
	c        *redis.Client
	prefix   string
	log      *slog.Logger
	lastWarn atomic.Int64 // unix nanos of the last outage warning
}

// OpenRedis connects to url (redis://[user:pass@]host:port/db). It does not
// fail when Redis is down: the cache starts degraded and recovers by itself.
func OpenRedis(url string, log *slog.Logger) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// Fail fast: a slow cache must not slow requests down.
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	opt.MaxRetries = -1 // no command retries
	opt.DialerRetries = 1
	return &Redis{c: redis.NewClient(opt), prefix: "berth:", log: log}, nil
}

// Close releases the connections.
func (r *Redis) Close() error { return r.c.Close() }

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// Get returns the value at key; ok is false on a miss or an outage.
func (r *Redis) Get(ctx context.Context, key string) (val []byte, ok bool) {
	b, err := r.c.Get(ctx, r.prefix+key).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			r.warn(ctx, err)
		}
		return nil, false
	}
	return b, true
}

// Set stores val at key for ttl.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) {
	if err := r.c.Set(ctx, r.prefix+key, val, ttl).Err(); err != nil {
		r.warn(ctx, err)
	}
}

// Delete removes keys.
func (r *Redis) Delete(ctx context.Context, keys ...string) {
	if len(keys) == 0 {
		return
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	if err := r.c.Del(ctx, full...).Err(); err != nil {
		r.warn(ctx, err)
	}
}

// warn logs an outage at most every 30 seconds.
func (r *Redis) warn(ctx context.Context, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last < int64(30*time.Second) || !r.lastWarn.CompareAndSwap(last, now) {
		return
	}
	r.log.WarnContext(ctx, "redis cache unavailable, serving uncached", "err", err)
}
