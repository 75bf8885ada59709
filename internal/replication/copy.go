package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/time/rate"
)

// accessoryTag matches cosign's tags for what it attaches to a digest
// (signatures, attestations, SBOMs) and the OCI referrers fallback tag.
var accessoryTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.(sig|att|sbom))?$`)

// maxReferrerDepth bounds how deep referrers of referrers are followed.
const maxReferrerDepth = 3

// copier copies artifacts from one registry to another with
// go-containerregistry: manifests by digest (an index with every child),
// blobs streamed, skipped when the destination has them (HEAD) and
// mounted across repositories on the same registry.
type copier struct {
	src, dst *client
	override bool
	chunked  bool // upload large blobs in chunks, resuming after a failure
	// resume holds where the chunked uploads stand, across attempts.
	resume *resumePoints
	logf   func(format string, args ...any)
}

// copyArtifact copies srcRepo@d to dstRepo with tags, then what refers to
// it: cosign's sha256-<hex>.sig/.att/.sbom tags and OCI referrers.
func (c *copier) copyArtifact(ctx context.Context, srcRepo, dstRepo, d string, tags []string) error {
	sr, err := c.src.repo(srcRepo)
	if err != nil {
		return err
	}
	dr, err := c.dst.repo(dstRepo)
	if err != nil {
		return err
	}
	if err := c.copyDigest(ctx, sr, dr, d, tags); err != nil {
		return err
	}
	return c.copyAccessories(ctx, sr, dr, d, 0)
}

func (c *copier) copyDigest(ctx context.Context, sr, dr name.Repository, d string, tags []string) error {
	srcRef := sr.Digest(d)
	dstRef := dr.Digest(d)
	var keep []string
	for _, t := range tags {
		if !c.override {
			got, err := remote.Head(dr.Tag(t), c.dst.options(ctx)...)
			if err == nil && got.Digest.String() != d {
				c.logf("tag %s exists on the destination at %s; not overridden", t, got.Digest)
				continue
			}
		}
		keep = append(keep, t)
	}
	have, err := remote.Head(dstRef, c.dst.options(ctx)...)
	if err == nil && have.Digest.String() == d {
		c.logf("%s@%s already on the destination", dr.RepositoryStr(), d)
	} else {
		desc, err := remote.Get(srcRef, c.src.options(ctx)...)
		if err != nil {
			return fmt.Errorf("get %s: %w", srcRef, c.scrub(err))
		}
		if c.chunked {
			if err := c.preUploadChunked(ctx, sr, dr, desc); err != nil {
				return err
			}
		}
		if err := c.push(ctx, dstRef, desc); err != nil {
			return err
		}
		c.logf("copied %s@%s (%s)", dr.RepositoryStr(), d, desc.MediaType)
	}
	if len(keep) == 0 {
		return nil
	}
	desc, err := remote.Get(dstRef, c.dst.options(ctx)...)
	if err != nil {
		return fmt.Errorf("get %s: %w", dstRef, c.scrub(err))
	}
	for _, t := range keep {
		if err := remote.Tag(dr.Tag(t), desc, c.dst.options(ctx)...); err != nil {
			return fmt.Errorf("tag %s: %w", t, c.scrub(err))
		}
		c.logf("tagged %s:%s", dr.RepositoryStr(), t)
	}
	return nil
}

// push writes desc (an index with its children, an image or any other
// manifest with its blobs) to ref.
func (c *copier) push(ctx context.Context, ref name.Reference, desc *remote.Descriptor) error {
	var err error
	switch {
	case desc.MediaType.IsIndex():
		var idx v1.ImageIndex
		if idx, err = desc.ImageIndex(); err == nil {
			err = remote.WriteIndex(ref, idx, c.dst.options(ctx)...)
		}
	default:
		var img v1.Image
		if img, err = desc.Image(); err == nil {
			err = remote.Write(ref, img, c.dst.options(ctx)...)
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", ref, c.scrub(err))
	}
	return nil
}

// copyAccessories copies what refers to srcRepo@d: cosign's tags and the
// OCI referrers (each with its own referrers, to a bounded depth).
func (c *copier) copyAccessories(ctx context.Context, sr, dr name.Repository, d string, depth int) error {
	if depth >= maxReferrerDepth {
		return nil
	}
	prefix := strings.Replace(d, ":", "-", 1)
	tags, err := remote.List(sr, c.src.options(ctx)...)
	if err != nil {
		return fmt.Errorf("list tags of %s: %w", sr, c.scrub(err))
	}
	for _, t := range tags {
		if !strings.HasPrefix(t, prefix+".") {
			continue
		}
		desc, err := remote.Head(sr.Tag(t), c.src.options(ctx)...)
		if err != nil {
			return fmt.Errorf("head %s:%s: %w", sr, t, c.scrub(err))
		}
		if err := c.copyDigest(ctx, sr, dr, desc.Digest.String(), []string{t}); err != nil {
			return err
		}
	}
	idx, err := remote.Referrers(sr.Digest(d), c.src.options(ctx)...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("referrers of %s: %w", d, c.scrub(err))
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("referrers of %s: %w", d, err)
	}
	if len(im.Manifests) > 1000 {
		return fmt.Errorf("referrers of %s: %d referrers, more than 1000", d, len(im.Manifests))
	}
	for _, m := range im.Manifests {
		if err := c.copyDigest(ctx, sr, dr, m.Digest.String(), nil); err != nil {
			return err
		}
		c.logf("copied referrer %s (%s)", m.Digest, m.ArtifactType)
		if err := c.copyAccessories(ctx, sr, dr, m.Digest.String(), depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) scrub(err error) error {
	return scrub(scrub(err, c.src.e.Secret), c.dst.e.Secret)
}

// deleteArtifact removes repo@d (or tag) from the destination.
func (c *copier) deleteArtifact(ctx context.Context, dstRepo, ref string) error {
	dr, err := c.dst.repo(dstRepo)
	if err != nil {
		return err
	}
	var r name.Reference = dr.Tag(ref)
	if strings.HasPrefix(ref, "sha256:") {
		r = dr.Digest(ref)
	}
	if err := remote.Delete(r, c.dst.options(ctx)...); err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			c.logf("%s not on the destination", r)
			return nil
		}
		return fmt.Errorf("delete %s: %w", r, c.scrub(err))
	}
	c.logf("deleted %s", r)
	return nil
}

// meter counts the bytes of request bodies sent (blob and manifest
// uploads) and holds them to a rate limit.
type meter struct {
	next    http.RoundTripper
	bytes   *atomic.Int64
	limiter *rate.Limiter // nil: unlimited
}

func newMeter(bytes *atomic.Int64, kbPerSecond int) func(http.RoundTripper) http.RoundTripper {
	var lim *rate.Limiter
	if kbPerSecond > 0 {
		bps := kbPerSecond * 1024
		lim = rate.NewLimiter(rate.Limit(bps), max(bps, 32<<10))
	}
	return func(next http.RoundTripper) http.RoundTripper { return &meter{next: next, bytes: bytes, limiter: lim} }
}

func (m *meter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = &meteredBody{ctx: r.Context(), rc: r.Body, m: m}
	}
	return m.next.RoundTrip(r)
}

type meteredBody struct {
	ctx context.Context
	rc  io.ReadCloser
	m   *meter
}

func (b *meteredBody) Read(p []byte) (int, error) {
	if b.m.limiter != nil && len(p) > 32<<10 {
		p = p[:32<<10]
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		b.m.bytes.Add(int64(n))
		if b.m.limiter != nil {
			if werr := b.m.limiter.WaitN(b.ctx, n); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return n, err
}

func (b *meteredBody) Close() error { return b.rc.Close() }
