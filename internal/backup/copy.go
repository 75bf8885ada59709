package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/storage"
)

// BlobError is a blob that is missing or whose bytes do not match its
// digest or size.
type BlobError struct {
	Digest  digest.Digest
	Key     string
	Problem string // "missing", "size mismatch", "digest mismatch", "unreadable"
	Detail  string
}

func (e *BlobError) Error() string {
	s := fmt.Sprintf("blob %s (%s): %s", e.Digest, e.Key, e.Problem)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is makes a missing blob match storage.ErrNotFound.
func (e *BlobError) Is(target error) bool {
	return e.Problem == "missing" && target == storage.ErrNotFound
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// copyIfMissing copies blob d from src/srcKey to dst/dstKey unless dst
// holds an object of the blob's size there already (then copied is false).
func copyIfMissing(ctx context.Context, src storage.Driver, srcKey string, dst storage.Driver, dstKey string,
	d digest.Digest, size int64, p Progress) (copied bool, err error) {
	if info, err := dst.Stat(ctx, dstKey); err == nil && info.Size == size {
		return false, nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("backup: stat %s: %w", dstKey, err)
	}
	return true, copyVerified(ctx, src, srcKey, dst, dstKey, d, size, p)
}

// copyVerified streams blob d from src/srcKey into dst/dstKey, hashing it
// on the way; the copy is committed only when the size and the digest
// match, and cancelled otherwise (a *BlobError). A missing source is a
// *BlobError matching storage.ErrNotFound.
func copyVerified(ctx context.Context, src storage.Driver, srcKey string, dst storage.Driver, dstKey string,
	d digest.Digest, size int64, p Progress) error {
	if err := d.Validate(); err != nil {
		return &BlobError{Digest: d, Key: srcKey, Problem: "invalid digest", Detail: err.Error()}
	}
	r, err := src.Reader(ctx, srcKey, 0)
	if errors.Is(err, storage.ErrNotFound) {
		return &BlobError{Digest: d, Key: srcKey, Problem: "missing"}
	}
	if err != nil {
		return fmt.Errorf("backup: read %s: %w", srcKey, err)
	}
	defer r.Close()
	w, err := dst.Writer(ctx, dstKey, 0)
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", dstKey, err)
	}
	h := d.Algorithm().Hash()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	// One byte more than expected reveals a longer object.
	n, err := io.CopyBuffer(io.MultiWriter(w, h, progressWriter{p}), io.LimitReader(r, size+1), *bp)
	if err != nil {
		_ = w.Cancel(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &BlobError{Digest: d, Key: srcKey, Problem: "unreadable", Detail: err.Error()}
	}
	if n != size {
		_ = w.Cancel(context.WithoutCancel(ctx))
		return &BlobError{Digest: d, Key: srcKey, Problem: "size mismatch", Detail: fmt.Sprintf("%d bytes, want %d", n, size)}
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		_ = w.Cancel(context.WithoutCancel(ctx))
		return &BlobError{Digest: d, Key: srcKey, Problem: "digest mismatch", Detail: "content hashes to " + got.String()}
	}
	if err := w.Commit(ctx); err != nil {
		return fmt.Errorf("backup: commit %s: %w", dstKey, err)
	}
	return nil
}

// checkBlob reads blob d at key and checks its size and digest.
func checkBlob(ctx context.Context, drv storage.Driver, key string, d digest.Digest, size int64, p Progress) error {
	if err := d.Validate(); err != nil {
		return &BlobError{Digest: d, Key: key, Problem: "invalid digest", Detail: err.Error()}
	}
	r, err := drv.Reader(ctx, key, 0)
	if errors.Is(err, storage.ErrNotFound) {
		return &BlobError{Digest: d, Key: key, Problem: "missing"}
	}
	if err != nil {
		return fmt.Errorf("backup: read %s: %w", key, err)
	}
	defer r.Close()
	h := d.Algorithm().Hash()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(io.MultiWriter(h, progressWriter{p}), io.LimitReader(r, size+1), *bp)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &BlobError{Digest: d, Key: key, Problem: "unreadable", Detail: err.Error()}
	}
	if n != size {
		return &BlobError{Digest: d, Key: key, Problem: "size mismatch", Detail: fmt.Sprintf("%d bytes, want %d", n, size)}
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		return &BlobError{Digest: d, Key: key, Problem: "digest mismatch", Detail: "content hashes to " + got.String()}
	}
	return nil
}

// progressWriter counts bytes for a Progress.
type progressWriter struct{ p Progress }

func (w progressWriter) Write(b []byte) (int, error) {
	if w.p != nil {
		w.p.Bytes(int64(len(b)))
	}
	return len(b), nil
}
