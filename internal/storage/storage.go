// Package storage defines how Berth stores opaque bytes under slash-separated
// keys. Drivers know nothing about digests, repositories or HTTP.
//
// It imports only the standard library; concrete drivers live in
// subpackages (filesystem, s3) and only internal/app imports them.
package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Errors returned by drivers. Callers compare with errors.Is.
var (
	// ErrNotFound: the key (or the pending write being resumed) does not exist.
	ErrNotFound = errors.New("storage: key not found")
	// ErrInvalidOffset: a resume asked for more bytes than the pending write holds.
	ErrInvalidOffset = errors.New("storage: invalid offset")
	// ErrInvalidKey: the key is empty, absolute, has an empty, "." or ".."
	// segment (so also a trailing slash), or contains a backslash or NUL.
	// A driver may reserve more (both drivers reserve the first segment
	// ".pending" for their pending writes).
	ErrInvalidKey = errors.New("storage: invalid key")
)

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Driver is the storage contract every driver implements and that
// storagetest.Run checks.
//
// Keys are relative slash-separated paths such as "blobs/sha256/ab/abcd".
// A key is either committed (visible to Reader, Stat and Walk) or has a
// pending write (visible only to Writer with a resume offset).
type Driver interface {
	// Reader streams the committed object at key from offset.
	// Missing key: ErrNotFound. Offset past the end: ErrInvalidOffset.
	Reader(ctx context.Context, key string, offset int64) (io.ReadCloser, error)

	// Writer opens a pending write for key. With offset 0 it starts a new
	// pending write, discarding any earlier one. With offset > 0 it resumes
	// a pending write, possibly begun by another process or replica, after
	// its first offset bytes; bytes the pending write holds past offset are
	// discarded (they were written by a request that did not complete).
	// Resuming a missing pending write: ErrNotFound; one shorter than
	// offset: ErrInvalidOffset. Content becomes visible only on Commit.
	//
	// Every driver can resume at the Size of the last Close and of the
	// Close before it (a request that wrote and closed bytes its caller did
	// not record), and below the last Close within its last 5 MiB. An
	// object store cannot truncate multipart parts it has uploaded, so it
	// may refuse other offsets below the held size with ErrInvalidOffset.
	// A Writer that was never closed leaves the pending write as its last
	// Close left it.
	//
	// The Writer's Write and Close do their I/O under ctx (the request's):
	// once it ends they fail with an error matching ctx.Err() and store
	// nothing more, so a cancelled request stops uploading.
	Writer(ctx context.Context, key string, offset int64) (Writer, error)

	// Stat describes the committed object at key. Missing: ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)

	// Move atomically (for readers) replaces the committed object at to
	// with the one at from. Missing from: ErrNotFound.
	Move(ctx context.Context, from, to string) error

	// Delete removes the committed object at key and any pending write
	// for it. A missing key is not an error.
	Delete(ctx context.Context, key string) error

	// Walk calls fn for every committed object whose key starts with
	// prefix (a plain string prefix: "a/b" matches "a/bc" and "a/b/c"), in
	// lexical (byte-wise) key order. Pending writes are never walked. An
	// error from fn stops the walk and is returned; fn may delete the key
	// it is given.
	Walk(ctx context.Context, prefix string, fn func(Info) error) error
}

// Writer appends to a pending write. It is not safe for concurrent use.
// After Close, Commit or Cancel every method but Size returns an error.
type Writer interface {
	io.Writer
	// Size is the number of bytes the pending write holds, including
	// those written before a resume.
	Size() int64
	// Close makes the bytes written so far durable, so that a later
	// Writer call with offset Size() can resume. The write stays pending.
	Close() error
	// Commit makes the pending write durable and visible at its key,
	// replacing any committed object there. The Writer is then closed.
	Commit(ctx context.Context) error
	// Cancel discards the pending write. The Writer is then closed.
	Cancel(ctx context.Context) error
}

// Redirector is implemented by drivers that can hand out a time-limited URL
// from which a client reads the committed object at key directly. A driver
// whose redirects are turned off by configuration returns an error wrapping
// errors.ErrUnsupported; the caller then streams the object itself.
type Redirector interface {
	RedirectURL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Renamer is implemented by drivers that can move a committed object with
// a cheap metadata operation (a rename) instead of copying its data. The
// content layer moves finished uploads to content-addressed keys only on
// such drivers; elsewhere a blob stays at its upload key.
type Renamer interface {
	// Rename behaves as Driver.Move and never copies data.
	Rename(ctx context.Context, from, to string) error
}

// BatchDeleter is implemented by drivers that delete many keys in fewer
// round trips than one Delete each (an object store's multi-object
// delete). Garbage collection uses it when present.
type BatchDeleter interface {
	// DeleteMany behaves as Delete for every key: the committed objects
	// and any pending writes go; missing keys are not an error. On error
	// some keys may be gone and others not; deleting again is safe.
	DeleteMany(ctx context.Context, keys []string) error
}

// FileOpener is implemented by drivers whose committed objects are local
// files. The HTTP layer serves such a file with the kernel's sendfile
// instead of copying it through user space.
type FileOpener interface {
	// OpenFile opens the committed object at key for reading, at offset
	// 0. Missing key: ErrNotFound. The caller closes the file.
	OpenFile(ctx context.Context, key string) (*os.File, error)
}

// KeyCommitter is implemented by Writers that can commit their pending
// write under another key than the one they were opened for, as cheaply
// as Commit (a rename). The content layer commits a finished upload
// straight to its content-addressed key with it, instead of committing it
// and then renaming it (one rename and one directory sync fewer).
type KeyCommitter interface {
	// CommitAs behaves as Commit but makes the content visible at key,
	// replacing any committed object there; the Writer's own key is left
	// as it was. An invalid key: ErrInvalidKey, and the write stays
	// pending.
	CommitAs(ctx context.Context, key string) error
}
