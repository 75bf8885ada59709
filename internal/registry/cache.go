package registry

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
)

// Cache is an optional shared cache (Redis) for tag and manifest lookups.
// Implementations degrade to misses when their server is down.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration)
	Delete(ctx context.Context, keys ...string)
}

// Tags move, so their cache entries live briefly and are dropped on every
// write this cluster makes; manifests by digest are immutable until deleted.
const (
	tagTTL      = 30 * time.Second
	manifestTTL = 10 * time.Minute
)

func tagKey(repo, tag string) string                  { return "tag:" + repo + ":" + tag }
func manifestKey(repo string, d digest.Digest) string { return "manifest:" + repo + "@" + d.String() }

type noCache struct{}

func (noCache) Get(context.Context, string) ([]byte, bool)         { return nil, false }
func (noCache) Set(context.Context, string, []byte, time.Duration) {}
func (noCache) Delete(context.Context, ...string)                  {}

func (s *Service) cachedTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	key := tagKey(repo, tag)
	v, fresh, seen := s.local.get(key)
	if fresh {
		return v.(digest.Digest), nil
	}
	ver := s.local.version()
	if b, ok := s.cache.Get(ctx, key); ok {
		if d, err := digest.Parse(string(b)); err == nil {
			s.local.put(key, d, int64(len(d)), ver)
			return d, nil
		}
	}
	d, err := s.store.Manifests.GetTag(ctx, repo, tag)
	if err != nil {
		if seen && errors.Is(err, meta.ErrUnavailable) {
			return v.(digest.Digest), nil // stale but better than a failed pull
		}
		return "", err
	}
	s.local.put(key, d, int64(len(d)), ver)
	s.cache.Set(ctx, key, []byte(d.String()), tagTTL)
	return d, nil
}

func (s *Service) cachedManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error) {
	key := manifestKey(repo, d)
	v, fresh, seen := s.local.get(key)
	if fresh {
		return v.(meta.Manifest), nil
	}
	ver := s.local.version()
	if b, ok := s.cache.Get(ctx, key); ok {
		var m meta.Manifest
		if err := json.Unmarshal(b, &m); err == nil && m.Digest == d {
			s.local.put(key, m, manifestSize(m), ver)
			return m, nil
		}
	}
	m, err := s.store.Manifests.GetManifest(ctx, repo, d)
	if err != nil {
		if seen && errors.Is(err, meta.ErrUnavailable) {
			return v.(meta.Manifest), nil // stale but better than a failed pull
		}
		return meta.Manifest{}, err
	}
	s.local.put(key, m, manifestSize(m), ver)
	if b, err := json.Marshal(m); err == nil {
		s.cache.Set(ctx, key, b, manifestTTL)
	}
	return m, nil
}

// manifestSize is roughly what m holds in memory.
func manifestSize(m meta.Manifest) int64 {
	n := len(m.Payload) + len(m.Digest) + len(m.MediaType) + len(m.ArtifactType) + len(m.Subject) + 128
	for k, v := range m.Annotations {
		n += len(k) + len(v) + 32
	}
	return int64(n)
}
