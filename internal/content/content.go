// Package content owns blobs and uploads: verified, streamed writes into a
// storage driver, resumable hash state kept in the metadata database (so any
// replica can continue any upload), cross-repository mounts and upload
// expiry.
//
// It must not import net/http or any edge package.
package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/storage"
)

// Errors returned by Service methods, besides those of meta and storage.
var (
	// ErrDigestMismatch: the uploaded bytes do not hash to the given digest.
	ErrDigestMismatch = errors.New("digest does not match content")
	// ErrRangeInvalid: a chunk does not start where the session ends.
	ErrRangeInvalid = errors.New("chunk out of order")
	// ErrSizeInvalid: the body is shorter or longer than declared.
	ErrSizeInvalid = errors.New("size does not match content")
	// ErrUploadInvalid: the session is unusable (for example it was
	// written concurrently); start a new upload.
	ErrUploadInvalid = errors.New("upload invalid")
	// ErrTooManyUploads: the repository or the account has as many open
	// upload sessions as Limits allow; finish, cancel or let some expire.
	ErrTooManyUploads = errors.New("too many open upload sessions")
)

// Limits bound the resources callers may hold. Zero or negative: no limit.
type Limits struct {
	// UploadsPerRepository caps the open upload sessions of one repository.
	UploadsPerRepository int
	// UploadsPerAccount caps the open upload sessions one account opened.
	UploadsPerAccount int
}

// Limits of a Service built by New.
const (
	DefaultUploadsPerRepository = 100
	DefaultUploadsPerAccount    = 500
)

// Stores are the parts of the metadata store the Service uses; internal/app
// fills them from *meta.Store.
type Stores struct {
	Blobs   blobStore   // *meta.Blobs
	Uploads uploadStore // *meta.Uploads
	// Tx runs the writes that span aggregates (blob, repository, link,
	// session) in one transaction: *meta.Store.
	Tx transactor
	// Quotas records pushes refused for a project's quota (*meta.Quotas);
	// nil records nothing.
	Quotas quotaRecorder
}

// quotaRecorder is meta.Quotas as the Service uses it.
type quotaRecorder interface {
	RecordQuotaRefusal(ctx context.Context, err error, repo string, d digest.Digest, operator string) error
}

// blobStore is meta.Blobs as the Service uses it outside a transaction.
type blobStore interface {
	GetLinkedBlob(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error)
	GetBlob(ctx context.Context, d digest.Digest) (meta.Blob, error)
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error
}

// uploadStore is meta.Uploads as the Service uses it outside a transaction.
type uploadStore interface {
	CreateUpload(ctx context.Context, u meta.Upload) error
	GetUpload(ctx context.Context, id string) (meta.Upload, error)
	AdvanceUpload(ctx context.Context, id string, from, to int64, hashState []byte) error
	DeleteUpload(ctx context.Context, id string) error
	ListStaleUploads(ctx context.Context, before time.Time, limit int) ([]meta.Upload, error)
}

// transactor runs fn in one metadata transaction (*meta.Store.InTx).
type transactor interface {
	InTx(ctx context.Context, fn func(tx *meta.Store) error) error
}

// Service stores and serves blobs.
type Service struct {
	store  Stores
	drv    storage.Driver
	log    *slog.Logger
	now    func() time.Time
	limits Limits

	// locks serialises requests on one session within this process; the
	// compare-and-set on the session row guards across replicas.
	locks keyedMutex
}

// New returns a Service over the stores and drv.
func New(store Stores, drv storage.Driver, log *slog.Logger) *Service {
	return &Service{store: store, drv: drv, log: log, now: time.Now, limits: Limits{UploadsPerRepository: DefaultUploadsPerRepository, UploadsPerAccount: DefaultUploadsPerAccount}, locks: keyedMutex{m: map[string]*lockEntry{}}}
}

// WithLimits sets s's limits and returns s; call it before s serves.
func (s *Service) WithLimits(l Limits) *Service {
	s.limits = l
	return s
}

// blobKey is the content-addressed key of a blob on drivers that rename
// cheaply: blobs/<algorithm>/<first two hex>/<hex>. The digest in the key
// keeps storage self-describing for fsck and disaster recovery.
func blobKey(d digest.Digest) string {
	hex := d.Encoded()
	return "blobs/" + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex
}

// uploadKey is the key of an upload session's data.
func uploadKey(id string) string { return "uploads/" + id + "/data" }

// sidecarKey holds the digest next to a blob that stays at its upload key
// (drivers without cheap renames), so storage alone can rebuild the
// digest-to-key map.
func sidecarKey(key string) string { return strings.TrimSuffix(key, "/data") + "/digest" }

// Stat returns blob d if repository repo holds it. Missing: meta.ErrBlobNotFound.
func (s *Service) Stat(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error) {
	return s.store.Blobs.GetLinkedBlob(ctx, repo, d) // its errors name repo and digest
}

// Open returns a reader of blob b's bytes from offset.
func (s *Service) Open(ctx context.Context, b meta.Blob, offset int64) (io.ReadCloser, error) {
	rc, err := s.drv.Reader(ctx, b.StorageKey, offset)
	if err != nil {
		return nil, s.openError(ctx, b, err)
	}
	return rc, nil
}

// openError wraps the error of opening blob b's stored bytes; bytes that
// are missing although the database holds the blob are logged.
func (s *Service) openError(ctx context.Context, b meta.Blob, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		s.log.ErrorContext(ctx, "blob data missing from storage", "digest", b.Digest.String(), "key", b.StorageKey)
		return fmt.Errorf("open blob %s: %w (data missing from storage)", b.Digest, meta.ErrBlobNotFound)
	}
	return fmt.Errorf("open blob %s: %w", b.Digest, err)
}

// OpenFile returns blob b's local file, at offset 0, when the driver
// stores blobs as local files (storage.FileOpener); ok is false otherwise.
// The caller closes the file.
func (s *Service) OpenFile(ctx context.Context, b meta.Blob) (f *os.File, ok bool, err error) {
	fo, isFO := s.drv.(storage.FileOpener)
	if !isFO {
		return nil, false, nil
	}
	f, err = fo.OpenFile(ctx, b.StorageKey)
	if err != nil {
		return nil, false, s.openError(ctx, b, err)
	}
	return f, true, nil
}

// RedirectURL returns a time-limited URL to blob b when the driver can
// give one; ok is false otherwise.
func (s *Service) RedirectURL(ctx context.Context, b meta.Blob, ttl time.Duration) (url string, ok bool, err error) {
	r, isR := s.drv.(storage.Redirector)
	if !isR {
		return "", false, nil
	}
	u, err := r.RedirectURL(ctx, b.StorageKey, ttl)
	if errors.Is(err, errors.ErrUnsupported) { // redirects turned off
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redirect blob %s: %w", b.Digest, err)
	}
	return u, true, nil
}

// Delete unlinks blob d from repo. The bytes stay until garbage collection
// finds no repository referencing them. Missing: meta.ErrBlobNotFound.
func (s *Service) Delete(ctx context.Context, repo string, d digest.Digest) error {
	if err := s.store.Blobs.UnlinkBlob(ctx, repo, d); err != nil {
		return fmt.Errorf("delete blob %s from %s: %w", d, repo, err)
	}
	return nil
}

// Mount links blob d, held by repository from, into repo.
// Not held by from: meta.ErrBlobNotFound.
func (s *Service) Mount(ctx context.Context, repo, from string, d digest.Digest) (meta.Blob, error) {
	b, err := s.store.Blobs.GetLinkedBlob(ctx, from, d)
	if err != nil {
		return meta.Blob{}, fmt.Errorf("mount %s from %s: %w", d, from, err)
	}
	if err := s.link(ctx, repo, d); err != nil {
		return meta.Blob{}, err
	}
	return b, nil
}

func (s *Service) link(ctx context.Context, repo string, d digest.Digest) error {
	err := s.store.Tx.InTx(ctx, func(tx *meta.Store) error {
		if _, err := tx.Repos.EnsureRepository(ctx, repo); err != nil {
			return err
		}
		return tx.Blobs.LinkBlob(ctx, repo, d)
	})
	if err != nil {
		s.quotaEvent(ctx, repo, d, err)
		return fmt.Errorf("link %s into %s: %w", d, repo, err)
	}
	return nil
}

// quotaEvent writes QUOTA_EXCEED when err says a blob upload or mount
// went over its project's quota (meta.Quotas.RecordQuotaRefusal: once per
// crossing, in a transaction of its own since the link rolled back); a
// failure to write it is only logged.
func (s *Service) quotaEvent(ctx context.Context, repo string, d digest.Digest, err error) {
	if s.store.Quotas == nil || !errors.Is(err, meta.ErrQuotaExceeded) {
		return
	}
	if qerr := s.store.Quotas.RecordQuotaRefusal(ctx, err, repo, d, access.FromContext(ctx).Name); qerr != nil {
		s.log.WarnContext(ctx, "could not record a quota event", "repository", repo, "err", qerr)
	}
}

// keyedMutex is a set of mutexes by key, created on demand and dropped
// when unused, so memory stays bounded by the number of active sessions.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &lockEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
