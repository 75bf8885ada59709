// Package fsck compares the metadata database with blob storage: blobs whose
// data is missing or has the wrong size (or, with Rehash, the wrong digest),
// and stored objects no blob row points at. It reports; it never deletes.
package fsck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/storage"
)

// Problem kinds.
const (
	Missing        = "missing"         // a blob row whose data is not in storage
	SizeMismatch   = "size_mismatch"   // stored size differs from the row's
	DigestMismatch = "digest_mismatch" // stored bytes do not hash to the digest (Rehash)
	Orphan         = "orphan"          // stored data no blob row or upload session owns
)

// MaxProblems bounds the problems a report lists; all are counted.
const MaxProblems = 1000

// Problem is one inconsistency.
type Problem struct {
	Kind   string
	Digest digest.Digest
	Key    string
	Detail string
}

// Report is the outcome of a check.
type Report struct {
	Blobs    int   // blob rows checked
	Bytes    int64 // bytes they account for
	Objects  int   // stored objects walked (with Orphans)
	Count    map[string]int
	Problems []Problem
}

// OK reports whether nothing is missing or mismatched (orphans are only
// wasted space and do not count).
func (r Report) OK() bool {
	return r.Count[Missing] == 0 && r.Count[SizeMismatch] == 0 && r.Count[DigestMismatch] == 0
}

// Options select the checks.
type Options struct {
	// Rehash reads every blob and checks its digest (slow: reads all data).
	Rehash bool
	// Orphans walks storage for objects no blob row owns.
	Orphans bool
}

// Stores are the parts of the metadata store fsck reads; internal/app
// fills them from *meta.Store.
type Stores struct {
	Blobs   blobStore   // *meta.Blobs
	Uploads uploadStore // *meta.Uploads
}

// blobStore is meta.Blobs as fsck uses it.
type blobStore interface {
	ListBlobs(ctx context.Context, after digest.Digest, limit int) ([]meta.Blob, error)
	GetBlob(ctx context.Context, d digest.Digest) (meta.Blob, error)
}

// uploadStore is meta.Uploads as fsck uses it.
type uploadStore interface {
	GetUpload(ctx context.Context, id string) (meta.Upload, error)
}

const pageSize = 500

// Run checks every blob row against storage, page by page.
func Run(ctx context.Context, st Stores, drv storage.Driver, opts Options) (Report, error) {
	r := Report{Count: map[string]int{}}
	var after digest.Digest
	for {
		page, err := st.Blobs.ListBlobs(ctx, after, pageSize)
		if err != nil {
			return r, fmt.Errorf("fsck: %w", err)
		}
		for _, b := range page {
			if err := checkBlob(ctx, drv, b, opts, &r); err != nil {
				return r, err
			}
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].Digest
	}
	if opts.Orphans {
		if err := findOrphans(ctx, st, drv, &r); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (r *Report) add(p Problem) {
	r.Count[p.Kind]++
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, p)
	}
}

func checkBlob(ctx context.Context, drv storage.Driver, b meta.Blob, opts Options, r *Report) error {
	r.Blobs++
	r.Bytes += b.Size
	info, err := drv.Stat(ctx, b.StorageKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		r.add(Problem{Kind: Missing, Digest: b.Digest, Key: b.StorageKey})
		return nil
	case err != nil:
		return fmt.Errorf("fsck: stat %s: %w", b.StorageKey, err)
	}
	if info.Size != b.Size {
		r.add(Problem{Kind: SizeMismatch, Digest: b.Digest, Key: b.StorageKey, Detail: fmt.Sprintf("database says %d bytes, storage holds %d", b.Size, info.Size)})
		return nil
	}
	if !opts.Rehash {
		return nil
	}
	rc, err := drv.Reader(ctx, b.StorageKey, 0)
	if err != nil {
		return fmt.Errorf("fsck: read %s: %w", b.StorageKey, err)
	}
	defer rc.Close()
	v := b.Digest.Verifier()
	if _, err := io.Copy(v, rc); err != nil {
		return fmt.Errorf("fsck: read %s: %w", b.StorageKey, err)
	}
	if !v.Verified() {
		r.add(Problem{Kind: DigestMismatch, Digest: b.Digest, Key: b.StorageKey})
	}
	return nil
}

// findOrphans walks the two layouts the content package writes:
// blobs/<alg>/<xx>/<hex> (digest in the key) and uploads/<id>/data with an
// uploads/<id>/digest sidecar once committed.
func findOrphans(ctx context.Context, st Stores, drv storage.Driver, r *Report) error {
	err := drv.Walk(ctx, "blobs/", func(i storage.Info) error {
		r.Objects++
		parts := strings.Split(i.Key, "/")
		if len(parts) != 4 {
			r.add(Problem{Kind: Orphan, Key: i.Key, Detail: "unexpected key"})
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[3])
		b, err := st.Blobs.GetBlob(ctx, d)
		if errors.Is(err, meta.ErrBlobNotFound) || (err == nil && b.StorageKey != i.Key) {
			r.add(Problem{Kind: Orphan, Digest: d, Key: i.Key})
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("fsck: walk blobs: %w", err)
	}
	err = drv.Walk(ctx, "uploads/", func(i storage.Info) error {
		r.Objects++
		id, file, ok := strings.Cut(strings.TrimPrefix(i.Key, "uploads/"), "/")
		if !ok || file != "data" {
			return nil // sidecars are judged with their data
		}
		if _, err := st.Uploads.GetUpload(ctx, id); err == nil {
			return nil // a session still in progress
		}
		d, err := readSidecar(ctx, drv, "uploads/"+id+"/digest")
		if err != nil {
			r.add(Problem{Kind: Orphan, Key: i.Key, Detail: "no session and no digest sidecar"})
			return nil
		}
		b, err := st.Blobs.GetBlob(ctx, d)
		if errors.Is(err, meta.ErrBlobNotFound) || (err == nil && b.StorageKey != i.Key) {
			r.add(Problem{Kind: Orphan, Digest: d, Key: i.Key})
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("fsck: walk uploads: %w", err)
	}
	return nil
}

func readSidecar(ctx context.Context, drv storage.Driver, key string) (digest.Digest, error) {
	rc, err := drv.Reader(ctx, key, 0)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256))
	if err != nil {
		return "", err
	}
	return digest.Parse(strings.TrimSpace(string(b)))
}
