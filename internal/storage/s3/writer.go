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

// flush uploads the buffer as the next part.
func (w *writer) flush() error {
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("write %q: %w", w.key, err)
		return w.err
	}
	ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
	defer cancel()
	if err := w.uploadPart(ctx); err != nil {
		w.err = fmt.Errorf("write %q: %w", w.key, err)
		return w.err
	}
	return nil
}

func (w *writer) uploadPart(ctx context.Context) error {
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
			return fmt.Errorf("create multipart upload: %w", err)
		}
		w.upload = aws.ToString(out.UploadId)
	}
	num := int32(len(w.parts) + 1)
	if num > maxParts {
		return fmt.Errorf("more than %d parts: raise chunksize", maxParts)
	}
	out, err := d.client.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket:        &d.bucket,
		Key:           &obj,
		UploadId:      &w.upload,
		PartNumber:    &num,
		Body:          bytes.NewReader(w.buf),
		ContentLength: aws.Int64(int64(len(w.buf))),
	}, unsignedPayload)
	if err != nil {
		return fmt.Errorf("upload part %d: %w", num, err)
	}
	w.parts = append(w.parts, part{etag: aws.ToString(out.ETag), size: int64(len(w.buf))})
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
	if w.err != nil {
		return w.err
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
	if w.err != nil {
		return w.err
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
		}, unsignedPayload)
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
	if w.base < 0 {
		// A new write: Writer discarded what the key had pending, and
		// only Close, which ends a writer, saves state. Nothing is left.
		return nil
	}
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
	w.buf = nil
	if err := w.d.dropPending(ctx, w.key); err != nil {
		return fmt.Errorf("cancel %q: %w", w.key, err)
	}
	return nil
}
