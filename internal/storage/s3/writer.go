package s3

import (
	"bytes"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// part is an uploaded part of a pending write's multipart upload.
type part struct {
	etag string
	size int64
}

// writer is a pending write: parts already uploaded, plus a buffer of at
// most chunkSize bytes not uploaded yet.
type writer struct {
	// ctx is the context Writer was called with (the request's): parts
	// are uploaded and state saved under it, so a cancelled request stops
	// uploading. io.Writer has no ctx; the writer lives for one request.
	ctx    context.Context //nolint:containedctx // see above
	d      *Driver
	key    string
	upload string // "" until the first part
	parts  []part // parts 1..len(parts)
	buf    []byte
	size   int64
	base   int64 // size of the saved state this writer resumed; -1 for a new write
	done   bool  // after Close, Commit or Cancel
	err    error // a failed part upload: the writer is unusable
	// flying are the parts being uploaded, in part order, after parts;
	// spare are buffers they gave back.
	flying []*flyingPart
	spare  [][]byte
}

// partsInFlight is how many full parts a writer uploads at once while
// the next one fills: a monolithic push streams at the store's speed
// for parallel requests, not one part's round trip at a time. Memory:
// (partsInFlight+1) x chunksize per upload in progress (50 MiB at the
// default 10 MiB).
const partsInFlight = 4

// flyingPart is a part uploading on its own goroutine.
type flyingPart struct {
	done chan struct{}
	buf  []byte
	etag string
	err  error
}

// grow returns buf with room for n more bytes, its capacity never above
// chunkSize (append's doubling would overshoot the memory bound).
func (w *writer) grow(buf []byte, n int) []byte {
	need := len(buf) + n
	if need <= cap(buf) {
		return buf
	}
	c := max(2*cap(buf), need, 64<<10)
	c = int(min(int64(c), w.d.chunkSize))
	nb := make([]byte, len(buf), c)
	copy(nb, buf)
	return nb
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write %q: %w", w.key, errWriterClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), int(w.d.chunkSize)-len(w.buf))
		w.buf = w.grow(w.buf, n)
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
		written += n
		w.size += int64(n)
		if int64(len(w.buf)) == w.d.chunkSize {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *writer) Size() int64 { return w.size }

// flush starts uploading the full buffer as the next part, on its own
// goroutine, once fewer than partsInFlight are in flight.
func (w *writer) flush() error {
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("write %q: %w", w.key, err)
		return w.err
	}
	if len(w.flying) == partsInFlight {
		if err := w.land(1); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
	num, err := w.nextPart(ctx)
	cancel()
	if err != nil {
		w.err = fmt.Errorf("write %q: %w", w.key, err)
		return w.err
	}
	f := &flyingPart{done: make(chan struct{}), buf: w.buf}
	w.flying = append(w.flying, f)
	w.buf = nil
	if n := len(w.spare); n > 0 {
		w.buf, w.spare = w.spare[n-1], w.spare[:n-1]
	}
	upload, obj := w.upload, w.d.objectKey(w.key)
	go func() {
		defer close(f.done)
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		defer cancel()
		f.etag, f.err = w.d.putPart(ctx, obj, upload, num, f.buf)
	}()
	return nil
}

// land waits for the n oldest parts in flight (all: n < 0) and records
// them; the first that failed makes the writer unusable.
func (w *writer) land(n int) error {
	for ; n != 0 && len(w.flying) > 0; n-- {
		f := w.flying[0]
		<-f.done
		w.flying = w.flying[1:]
		if f.err != nil && w.err == nil {
			w.err = fmt.Errorf("write %q: %w", w.key, f.err)
		}
		if w.err == nil {
			w.parts = append(w.parts, part{etag: f.etag, size: int64(len(f.buf))})
		}
		w.spare = append(w.spare, f.buf[:0])
	}
	return w.err
}

// nextPart creates the multipart upload if there is none yet and returns
// the number of the next part.
func (w *writer) nextPart(ctx context.Context) (int32, error) {
	d := w.d
	obj := d.objectKey(w.key)
	if w.upload == "" {
		out, err := d.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
			Bucket:               &d.bucket,
			Key:                  &obj,
			StorageClass:         d.storageClass,
			ServerSideEncryption: d.sse,
			SSEKMSKeyId:          d.kmsKeyID,
		})
		if err != nil {
			return 0, fmt.Errorf("create multipart upload: %w", err)
		}
		w.upload = aws.ToString(out.UploadId)
	}
	num := int32(len(w.parts) + len(w.flying) + 1)
	if num > maxParts {
		return 0, fmt.Errorf("more than %d parts: raise chunksize", maxParts)
	}
	return num, nil
}

// putPart uploads buf as part num of upload at obj.
func (d *Driver) putPart(ctx context.Context, obj, upload string, num int32, buf []byte) (string, error) {
	out, err := d.client.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket:        &d.bucket,
		Key:           &obj,
		UploadId:      &upload,
		PartNumber:    &num,
		Body:          bytes.NewReader(buf),
		ContentLength: aws.Int64(int64(len(buf))),
	})
	if err != nil {
		return "", fmt.Errorf("upload part %d: %w", num, err)
	}
	return aws.ToString(out.ETag), nil
}

// uploadPart uploads the buffer as the next part and waits for it (the
// parts in flight land first).
func (w *writer) uploadPart(ctx context.Context) error {
	if err := w.land(-1); err != nil {
		return err
	}
	num, err := w.nextPart(ctx)
	if err != nil {
		return err
	}
	etag, err := w.d.putPart(ctx, w.d.objectKey(w.key), w.upload, num, w.buf)
	if err != nil {
		return err
	}
	w.parts = append(w.parts, part{etag: etag, size: int64(len(w.buf))})
	w.buf = w.buf[:0]
	return nil
}

func (w *writer) state() state {
	return state{size: w.size, parts: int32(len(w.parts)), upload: w.upload, tail: w.buf}
}

// Close uploads the buffer as a part if it is large enough to be one,
// saves the rest in the state object, and keeps the state it resumed from
// as the rewind point.
func (w *writer) Close() error {
	if w.done {
		return fmt.Errorf("close %q: %w", w.key, errWriterClosed)
	}
	w.done = true
	if err := w.land(-1); err != nil {
		return err
	}
	if w.size == w.base || (w.base < 0 && w.size == 0) {
		return nil // nothing new to save
	}
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("close %q: %w", w.key, err)
	}
	ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
	defer cancel()
	if len(w.buf) >= minPartSize {
		if err := w.uploadPart(ctx); err != nil {
			return fmt.Errorf("close %q: %w", w.key, err)
		}
	}
	if w.base >= 0 {
		if err := w.d.copyState(ctx, w.key, "head", "prev"); err != nil {
			return fmt.Errorf("close %q: %w", w.key, err)
		}
	}
	if err := w.d.putState(ctx, w.key, "head", w.state()); err != nil {
		return fmt.Errorf("close %q: %w", w.key, err)
	}
	return nil
}

// Commit completes the multipart upload at the key, or puts the object in
// one request when it never needed a part (an empty object included:
// completing an upload of zero parts fails on some stores).
func (w *writer) Commit(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("commit %q: %w", w.key, errWriterClosed)
	}
	w.done = true
	if err := w.land(-1); err != nil {
		return err
	}
	d := w.d
	obj := d.objectKey(w.key)
	if w.upload == "" {
		_, err := d.client.PutObject(ctx, &awss3.PutObjectInput{
			Bucket:               &d.bucket,
			Key:                  &obj,
			Body:                 bytes.NewReader(w.buf),
			ContentLength:        aws.Int64(int64(len(w.buf))),
			StorageClass:         d.storageClass,
			ServerSideEncryption: d.sse,
			SSEKMSKeyId:          d.kmsKeyID,
		})
		if err != nil {
			return fmt.Errorf("commit %q: %w", w.key, err)
		}
	} else {
		if len(w.buf) > 0 {
			if err := w.uploadPart(ctx); err != nil {
				return fmt.Errorf("commit %q: %w", w.key, err)
			}
		}
		completed := make([]types.CompletedPart, len(w.parts))
		for i, p := range w.parts {
			completed[i] = types.CompletedPart{ETag: aws.String(p.etag), PartNumber: aws.Int32(int32(i + 1))}
		}
		_, err := d.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
			Bucket:          &d.bucket,
			Key:             &obj,
			UploadId:        &w.upload,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
		})
		if err != nil {
			return fmt.Errorf("commit %q: complete multipart upload: %w", w.key, err)
		}
	}
	w.buf = nil
	// The object is committed; leftovers (state objects, uploads orphaned
	// by writers that died) are removed by the next Writer, Cancel or
	// Delete of this key if this fails.
	_ = d.dropPending(ctx, w.key)
	return nil
}

// Cancel aborts the multipart uploads of the key and deletes its state.
func (w *writer) Cancel(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("cancel %q: %w", w.key, errWriterClosed)
	}
	w.done = true
	_ = w.land(-1) // the parts are being discarded: their errors do not matter
	w.buf, w.spare = nil, nil
	if err := w.d.dropPending(ctx, w.key); err != nil {
		return fmt.Errorf("cancel %q: %w", w.key, err)
	}
	return nil
}
