package content

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/storage"
)

// sessionAlgorithm is the hash every session computes while data streams
// in. A session finished with a digest of another algorithm is verified by
// reading the data back once.
const sessionAlgorithm = digest.SHA256

// StartUpload opens an upload session for repo on behalf of account (the
// user or robot pushing). When repo or account already holds as many open
// sessions as s's Limits allow: ErrTooManyUploads, and nothing changes.
func (s *Service) StartUpload(ctx context.Context, repo, account string) (meta.Upload, error) {
	state, err := marshalHash(sessionAlgorithm.Hash())
	if err != nil {
		return meta.Upload{}, err
	}
	id := uuid.NewString()
	u := meta.Upload{
		ID:         id,
		Repository: repo,
		Account:    account,
		StorageKey: uploadKey(id),
		Algorithm:  string(sessionAlgorithm),
		HashState:  state,
	}
	// Counted and created in one transaction: concurrent starts may
	// overshoot a cap by a few on PostgreSQL (read committed), never by many.
	err = s.store.Tx.InTx(ctx, func(tx *meta.Store) error {
		inRepo, byAccount, err := tx.Uploads.CountOpenUploads(ctx, repo, account)
		if err != nil {
			return err
		}
		if l := s.limits.UploadsPerRepository; l > 0 && inRepo >= l {
			return fmt.Errorf("%w: repository %s has %d open, the limit is %d", ErrTooManyUploads, repo, inRepo, l)
		}
		if l := s.limits.UploadsPerAccount; l > 0 && byAccount >= l {
			return fmt.Errorf("%w: account %s has %d open, the limit is %d", ErrTooManyUploads, account, byAccount, l)
		}
		return tx.Uploads.CreateUpload(ctx, u)
	})
	if err != nil {
		return meta.Upload{}, fmt.Errorf("start upload in %s: %w", repo, err)
	}
	return s.store.Uploads.GetUpload(ctx, id)
}

// Upload returns session id of repo. Missing: meta.ErrUploadNotFound.
func (s *Service) Upload(ctx context.Context, repo, id string) (meta.Upload, error) {
	u, err := s.store.Uploads.GetUpload(ctx, id)
	if err != nil {
		return meta.Upload{}, fmt.Errorf("upload %s: %w", id, err)
	}
	if u.Repository != repo {
		return meta.Upload{}, fmt.Errorf("upload %s: %w", id, meta.ErrUploadNotFound)
	}
	return u, nil
}

// Chunk describes a PATCH body: Start is where the client says it begins
// (-1 when it sent no Content-Range) and Length its declared size (-1 when
// unknown).
type Chunk struct {
	Start  int64
	Length int64
	Body   io.Reader
}

// AppendUpload appends a chunk to session id of repo and returns the
// session after it. A chunk that does not start at the session's offset:
// ErrRangeInvalid (with the session unchanged).
func (s *Service) AppendUpload(ctx context.Context, repo, id string, c Chunk) (meta.Upload, error) {
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return meta.Upload{}, err
	}
	if c.Start >= 0 && c.Start != u.Offset {
		return u, fmt.Errorf("%w: chunk starts at %d, session holds %d bytes", ErrRangeInvalid, c.Start, u.Offset)
	}
	h, err := unmarshalHash(u)
	if err != nil {
		return meta.Upload{}, err
	}
	w, err := s.drv.Writer(ctx, u.StorageKey, u.Offset)
	if err != nil {
		return meta.Upload{}, s.brokenSession(ctx, u, fmt.Errorf("resume upload %s: %w", id, err))
	}
	n, err := copyChunk(w, h, c)
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("persist chunk: %w", cerr)
	}
	if err != nil {
		// The session row still says u.Offset; the extra bytes in the
		// pending write are dropped by the next resume.
		return u, fmt.Errorf("upload %s: %w", id, err)
	}
	state, err := marshalHash(h)
	if err != nil {
		return meta.Upload{}, err
	}
	if err := s.store.Uploads.AdvanceUpload(ctx, id, u.Offset, u.Offset+n, state); err != nil {
		if errors.Is(err, meta.ErrUploadConflict) {
			// Another request wrote to the same pending data at the
			// same time: its content can no longer be trusted.
			return meta.Upload{}, s.brokenSession(ctx, u, fmt.Errorf("upload %s written concurrently: %w", id, ErrUploadInvalid))
		}
		return meta.Upload{}, fmt.Errorf("upload %s: %w", id, err)
	}
	u.Offset += n
	u.HashState = state
	u.UpdatedAt = s.now()
	return u, nil
}

// FinishUpload appends the optional last chunk to session id, checks that
// the whole upload hashes to d and makes it visible in repo. On a digest
// mismatch (ErrDigestMismatch) the session is discarded and nothing
// becomes visible. It also returns how long the session lasted.
func (s *Service) FinishUpload(ctx context.Context, repo, id string, d digest.Digest, last Chunk) (meta.Blob, time.Duration, error) {
	b, u, err := s.finishUpload(ctx, repo, id, d, last)
	if err != nil {
		return meta.Blob{}, 0, err
	}
	return b, s.now().Sub(u.CreatedAt), nil
}

func (s *Service) finishUpload(ctx context.Context, repo, id string, d digest.Digest, last Chunk) (meta.Blob, meta.Upload, error) {
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return meta.Blob{}, u, err
	}
	if last.Start >= 0 && last.Start != u.Offset {
		return meta.Blob{}, u, fmt.Errorf("%w: chunk starts at %d, session holds %d bytes", ErrRangeInvalid, last.Start, u.Offset)
	}
	h, err := unmarshalHash(u)
	if err != nil {
		return meta.Blob{}, u, err
	}
	w, err := s.drv.Writer(ctx, u.StorageKey, u.Offset)
	if err != nil {
		return meta.Blob{}, u, s.brokenSession(ctx, u, fmt.Errorf("resume upload %s: %w", id, err))
	}
	var n int64
	if last.Body != nil {
		if n, err = copyChunk(w, h, last); err != nil {
			_ = w.Close()
			return meta.Blob{}, u, fmt.Errorf("upload %s: %w", id, err)
		}
	}
	size := u.Offset + n
	if d.Algorithm() == sessionAlgorithm && digest.NewDigest(sessionAlgorithm, h) != d {
		_ = w.Cancel(ctx)
		s.dropSession(ctx, u)
		return meta.Blob{}, u, fmt.Errorf("upload %s: %w: content is %s", id, ErrDigestMismatch, digest.NewDigest(sessionAlgorithm, h))
	}
	key := u.StorageKey
	if d.Algorithm() == sessionAlgorithm { // verified: it may go straight to its place
		key, err = s.commitWriter(ctx, w, key, d)
	} else {
		err = w.Commit(ctx)
	}
	if err != nil {
		return meta.Blob{}, u, fmt.Errorf("commit upload %s: %w", id, err)
	}
	if d.Algorithm() != sessionAlgorithm {
		if err := s.verifyStored(ctx, u.StorageKey, d); err != nil {
			s.dropSession(ctx, u)
			return meta.Blob{}, u, fmt.Errorf("upload %s: %w", id, err)
		}
	}
	b, err := s.commitBlob(ctx, repo, d, size, key, id)
	if err != nil {
		return meta.Blob{}, u, err
	}
	return b, u, nil
}

// PutBlob stores a whole blob pushed in one request (POST ?digest=).
// length is the declared size or -1.
func (s *Service) PutBlob(ctx context.Context, repo string, d digest.Digest, body io.Reader, length int64) (meta.Blob, error) {
	key := uploadKey(uuid.NewString())
	w, err := s.drv.Writer(ctx, key, 0)
	if err != nil {
		return meta.Blob{}, fmt.Errorf("put blob %s: %w", d, err)
	}
	h := d.Algorithm().Hash()
	n, err := copyChunk(w, h, Chunk{Start: -1, Length: length, Body: body})
	if err == nil && digest.NewDigest(d.Algorithm(), h) != d {
		err = fmt.Errorf("%w: content is %s", ErrDigestMismatch, digest.NewDigest(d.Algorithm(), h))
	}
	if err != nil {
		_ = w.Cancel(ctx)
		return meta.Blob{}, fmt.Errorf("put blob %s: %w", d, err)
	}
	if key, err = s.commitWriter(ctx, w, key, d); err != nil {
		return meta.Blob{}, fmt.Errorf("put blob %s: %w", d, err)
	}
	return s.commitBlob(ctx, repo, d, n, key, "")
}

// commitWriter commits w, the verified content of blob d opened for key,
// and returns the key it is now at: blob d's content-addressed key when
// the driver can commit there directly (storage.KeyCommitter) and
// commitBlob would move it there (no row names d yet), else key.
func (s *Service) commitWriter(ctx context.Context, w storage.Writer, key string, d digest.Digest) (string, error) {
	kc, ok := w.(storage.KeyCommitter)
	if _, isR := s.drv.(storage.Renamer); ok && isR {
		// Any other answer than "not found": as before, commitBlob decides.
		if _, err := s.store.Blobs.GetBlob(ctx, d); errors.Is(err, meta.ErrBlobNotFound) {
			final := blobKey(d)
			return final, kc.CommitAs(ctx, final)
		}
	}
	return key, w.Commit(ctx)
}

// CancelUpload discards session id of repo and its data.
func (s *Service) CancelUpload(ctx context.Context, repo, id string) error {
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return err
	}
	if err := s.drv.Delete(ctx, u.StorageKey); err != nil {
		return fmt.Errorf("cancel upload %s: %w", id, err)
	}
	if err := s.store.Uploads.DeleteUpload(ctx, id); err != nil {
		return fmt.Errorf("cancel upload %s: %w", id, err)
	}
	return nil
}

// ExpireUploads discards sessions idle for longer than ttl, at most limit
// of them per call, and returns how many it discarded.
func (s *Service) ExpireUploads(ctx context.Context, ttl time.Duration, limit int) (int, error) {
	stale, err := s.store.Uploads.ListStaleUploads(ctx, s.now().Add(-ttl), limit)
	if err != nil {
		return 0, fmt.Errorf("list stale uploads: %w", err)
	}
	n := 0
	for _, u := range stale {
		if err := s.drv.Delete(ctx, u.StorageKey); err != nil {
			return n, fmt.Errorf("expire upload %s: %w", u.ID, err)
		}
		if err := s.store.Uploads.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, meta.ErrUploadNotFound) {
			return n, fmt.Errorf("expire upload %s: %w", u.ID, err)
		}
		n++
	}
	return n, nil
}

// commitBlob makes the committed object at key the content of blob d and
// links it into repo; sessionID (if any) is closed in the same transaction.
// If the blob exists already, the new copy is deleted, never the old one.
func (s *Service) commitBlob(ctx context.Context, repo string, d digest.Digest, size int64, key, sessionID string) (meta.Blob, error) {
	// Rename onto the content-addressed key only when no row names the
	// digest yet: an existing row's object may be the one garbage
	// collection is deleting (docs/design/gc.md, concurrent push).
	// commitWriter may have committed it there already, on the same rule.
	if final := blobKey(d); key != final {
		_, statErr := s.store.Blobs.GetBlob(ctx, d)
		if statErr != nil && !errors.Is(statErr, meta.ErrBlobNotFound) {
			return meta.Blob{}, fmt.Errorf("record blob %s: %w", d, statErr)
		}
		if r, ok := s.drv.(storage.Renamer); ok && statErr != nil {
			if err := r.Rename(ctx, key, final); err != nil {
				return meta.Blob{}, fmt.Errorf("place blob %s: %w", d, err)
			}
			key = final
		} else if err := s.writeSidecar(ctx, key, d); err != nil {
			return meta.Blob{}, err
		}
	}
	var stored meta.Blob
	err := s.store.Tx.InTx(ctx, func(tx *meta.Store) error {
		b, _, err := tx.Blobs.PutBlob(ctx, meta.Blob{Digest: d, Size: size, StorageKey: key})
		if err != nil {
			return err
		}
		if _, err := tx.Repos.EnsureRepository(ctx, repo); err != nil {
			return err
		}
		if err := tx.Blobs.LinkBlob(ctx, repo, d); err != nil {
			return err
		}
		if sessionID != "" {
			if err := tx.Uploads.DeleteUpload(ctx, sessionID); err != nil {
				return err
			}
		}
		stored = b
		return nil
	})
	if err != nil {
		s.quotaEvent(ctx, repo, d, err)
		return meta.Blob{}, fmt.Errorf("record blob %s: %w", d, err)
	}
	if stored.StorageKey != key {
		s.deleteCopy(ctx, key)
	}
	return stored, nil
}

func (s *Service) writeSidecar(ctx context.Context, key string, d digest.Digest) error {
	w, err := s.drv.Writer(ctx, sidecarKey(key), 0)
	if err == nil {
		if _, err = io.WriteString(w, d.String()); err == nil {
			err = w.Commit(ctx)
		} else {
			_ = w.Cancel(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("write digest sidecar for %s: %w", d, err)
	}
	return nil
}

func (s *Service) deleteCopy(ctx context.Context, key string) {
	for _, k := range []string{key, sidecarKey(key)} {
		if err := s.drv.Delete(ctx, k); err != nil {
			s.log.WarnContext(ctx, "delete duplicate blob copy", "key", k, "err", err)
		}
	}
}

// verifyStored re-reads a committed object to check it hashes to d.
func (s *Service) verifyStored(ctx context.Context, key string, d digest.Digest) error {
	rc, err := s.drv.Reader(ctx, key, 0)
	if err != nil {
		return fmt.Errorf("verify %s: %w", d, err)
	}
	defer rc.Close()
	v := d.Verifier()
	if _, err := io.Copy(v, rc); err != nil {
		return fmt.Errorf("verify %s: %w", d, err)
	}
	if !v.Verified() {
		return fmt.Errorf("%w: content does not hash to %s", ErrDigestMismatch, d)
	}
	return nil
}

// brokenSession discards a session whose data cannot be trusted or found
// and returns cause marked as ErrUploadInvalid.
func (s *Service) brokenSession(ctx context.Context, u meta.Upload, cause error) error {
	s.dropSession(ctx, u)
	if errors.Is(cause, ErrUploadInvalid) {
		return cause
	}
	return fmt.Errorf("%w: %w", ErrUploadInvalid, cause)
}

func (s *Service) dropSession(ctx context.Context, u meta.Upload) {
	if err := s.drv.Delete(ctx, u.StorageKey); err != nil {
		s.log.WarnContext(ctx, "delete upload data", "upload", u.ID, "err", err)
	}
	if err := s.store.Uploads.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, meta.ErrUploadNotFound) {
		s.log.WarnContext(ctx, "delete upload session", "upload", u.ID, "err", err)
	}
}

// copyChunk streams c.Body into w and h, enforcing c.Length when known.
func copyChunk(w io.Writer, h hash.Hash, c Chunk) (int64, error) {
	r := c.Body
	size := int64(copyBlock)
	if c.Length >= 0 {
		r = io.LimitReader(c.Body, c.Length+1)
		size = min(size, c.Length+1)
	}
	n, err := pipeCopy(w, h, r, int(max(size, 512)))
	if err != nil {
		return n, err
	}
	if c.Length >= 0 && n != c.Length {
		return n, fmt.Errorf("%w: declared %d bytes, received %d", ErrSizeInvalid, c.Length, n)
	}
	return n, nil
}

// copyBlock is the block size of pipeCopy: two blocks per upload in
// progress.
const copyBlock = 512 << 10

// pipeCopy copies r to w in blocks of size bytes while h hashes each
// block on its own goroutine: hashing block i overlaps reading and
// writing block i+1, so a big push costs max(hash, I/O), not their sum.
// Errors are wrapped as "read body".
func pipeCopy(w io.Writer, h hash.Hash, r io.Reader, size int) (int64, error) {
	free := make(chan []byte, 2)
	free <- make([]byte, size)
	free <- make([]byte, size)
	blocks := make(chan []byte, 1)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range blocks {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var total int64
	var err error
	for {
		b := <-free
		n, rerr := io.ReadFull(r, b)
		if n > 0 {
			if _, werr := w.Write(b[:n]); werr != nil {
				err = fmt.Errorf("read body: %w", werr) // as io.Copy's errors were
				break
			}
			total += int64(n)
			blocks <- b[:n]
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			err = fmt.Errorf("read body: %w", rerr)
			break
		}
	}
	close(blocks)
	<-hashed // h is complete (or abandoned) before the caller reads it
	return total, err
}

func marshalHash(h hash.Hash) ([]byte, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, errors.New("hash state cannot be saved")
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("save hash state: %w", err)
	}
	return b, nil
}

func unmarshalHash(u meta.Upload) (hash.Hash, error) {
	alg := digest.Algorithm(u.Algorithm)
	if !alg.Available() {
		return nil, fmt.Errorf("upload %s: %w: unknown algorithm %q", u.ID, ErrUploadInvalid, u.Algorithm)
	}
	h := alg.Hash()
	m, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, errors.New("hash state cannot be restored")
	}
	if err := m.UnmarshalBinary(u.HashState); err != nil {
		return nil, fmt.Errorf("upload %s: %w: restore hash state: %w", u.ID, ErrUploadInvalid, err)
	}
	return h, nil
}
