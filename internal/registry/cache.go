package registry

import (
	"context"
	"encoding/json"
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
	if b, ok := s.cache.Get(ctx, tagKey(repo, tag)); ok {
		if d, err := digest.Parse(string(b)); err == nil {
			return d, nil
		}
	}
	d, err := s.store.Manifests.GetTag(ctx, repo, tag)
	if err != nil {
		return "", err
	}
	s.cache.Set(ctx, tagKey(repo, tag), []byte(d.String()), tagTTL)
	return d, nil
}

func (s *Service) cachedManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error) {
	if b, ok := s.cache.Get(ctx, manifestKey(repo, d)); ok {
		var m meta.Manifest
		if err := json.Unmarshal(b, &m); err == nil && m.Digest == d {
			return m, nil
		}
	}
	m, err := s.store.Manifests.GetManifest(ctx, repo, d)
	if err != nil {
		return meta.Manifest{}, err
	}
	if b, err := json.Marshal(m); err == nil {
		s.cache.Set(ctx, manifestKey(repo, d), b, manifestTTL)
	}
	return m, nil
}
