// Package cache is Berth's optional shared cache (Redis). It is only ever
// an accelerator: every method degrades to a miss or a no-op when Redis is
// unreachable, so requests go on uncached instead of failing. An outage
// logs one warning when it starts and one line when Redis answers again;
// go-redis's own messages (one per failed dial) go to slog at debug level.
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

// Log messages.
const (
	msgUnavailable = "redis cache unavailable, serving uncached"
	msgAvailable   = "redis cache available again"
	msgClient      = "redis client"
)

// Redis is a cache on a Redis server.
type Redis struct {
	c      *redis.Client
	prefix string
	log    *slog.Logger
	down   atomic.Bool // an outage was logged and no call has succeeded since
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
	// go-redis logs through one process-wide logger; Berth opens one cache.
	redis.SetLogger(clientLogger{log})
	return &Redis{c: redis.NewClient(opt), prefix: "berth:", log: log}, nil
}

// Close releases the connections.
func (r *Redis) Close() error { return r.c.Close() }

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// Get returns the value at key; ok is false on a miss or an outage.
func (r *Redis) Get(ctx context.Context, key string) (val []byte, ok bool) {
	b, err := r.c.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		r.up(ctx)
		return nil, false
	}
	if err != nil {
		r.warn(ctx, err)
		return nil, false
	}
	r.up(ctx)
	return b, true
}

// Set stores val at key for ttl.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) {
	if err := r.c.Set(ctx, r.prefix+key, val, ttl).Err(); err != nil {
		r.warn(ctx, err)
		return
	}
	r.up(ctx)
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
		return
	}
	r.up(ctx)
}

// warn logs the start of an outage; later failures are silent until a
// call succeeds again.
func (r *Redis) warn(ctx context.Context, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	if r.down.CompareAndSwap(false, true) {
		r.log.WarnContext(ctx, msgUnavailable, "err", err)
	}
}

// up logs the end of an outage.
func (r *Redis) up(ctx context.Context) {
	if r.down.CompareAndSwap(true, false) {
		r.log.InfoContext(ctx, msgAvailable)
	}
}

// clientLogger carries go-redis's messages (free text, one per failed
// dial during an outage) to slog at debug level; the cache's own
// warning is what an operator sees.
type clientLogger struct{ log *slog.Logger }

func (l clientLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, msgClient, "detail", fmt.Sprintf(format, v...))
}
