// Package filesystem is the storage driver for a local (or shared POSIX)
// directory. It owns the on-disk layout under its root and nothing else: it
// knows no digests, repositories or HTTP, and imports only the standard
// library and internal/storage.
//
// Layout under root:
//
//	<key>                   committed objects, one regular file per key
//	.pending/<sha256(key)>  pending writes, one file per key, same filesystem
//
// Writes are streamed to the pending file; Writer.Close fsyncs it, so that
// another Driver on the same root (another process or replica sharing the
// disk) can resume it. Commit fsyncs the file, renames it to its key and
// fsyncs the parent directory. The first segment ".pending" is reserved:
// keys that start with it are invalid on this driver.
//
// Two keys where one is a directory prefix of the other ("a" and "a/b")
// cannot both be committed: the second write fails at Commit.
package filesystem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/internal/storage"
)

// pendingDir is the directory under root that holds pending writes.
const pendingDir = ".pending"

// Interface guards.
var (
	_ storage.Driver  = (*Driver)(nil)
	_ storage.Renamer = (*Driver)(nil)
	_ storage.Writer  = (*writer)(nil)
)

// errWriterClosed is returned by a Writer used after Close, Commit or Cancel.
var errWriterClosed = errors.New("filesystem: writer is closed")

// Driver stores objects as files under a root directory. It is safe for
// concurrent use, and several Drivers (in one or many processes) may share
// one root.
type Driver struct {
	root string
}

// New returns a driver rooted at root, creating the directory (and its
// pending area) if needed.
func New(root string) (*Driver, error) {
	if root == "" {
		return nil, errors.New("filesystem: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("filesystem: root %q: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, pendingDir), 0o755); err != nil {
		return nil, fmt.Errorf("filesystem: create root: %w", err)
	}
	return &Driver{root: abs}, nil
}

// Root returns the absolute root directory.
func (d *Driver) Root() string { return d.root }

// checkKey reports storage.ErrInvalidKey for keys that are empty, absolute,
// contain backslashes, NUL, empty, "." or ".." segments, or start with the
// reserved pending directory.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
		}
	}
	if key == pendingDir || strings.HasPrefix(key, pendingDir+"/") {
		return fmt.Errorf("%w: %q (reserved)", storage.ErrInvalidKey, key)
	}
	return nil
}

func (d *Driver) path(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key))
}

func (d *Driver) pendingPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d.root, pendingDir, hex.EncodeToString(sum[:]))
}

// Reader implements storage.Driver.
func (d *Driver) Reader(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	f, err := os.Open(d.path(key))
	if err != nil {
		return nil, d.notFound("read", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("read %q: %w", key, storage.ErrNotFound)
	}
	if offset < 0 || offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("read %q at %d of %d bytes: %w", key, offset, fi.Size(), storage.ErrInvalidOffset)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("read %q: %w", key, err)
		}
	}
	return f, nil
}

// OpenFile implements storage.FileOpener: the committed object's file.
func (d *Driver) OpenFile(ctx context.Context, key string) (*os.File, error) {
	rc, err := d.Reader(ctx, key, 0)
	if err != nil {
		return nil, err
	}
	return rc.(*os.File), nil
}

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Info, error) {
	if err := checkKey(key); err != nil {
		return storage.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, fmt.Errorf("stat %q: %w", key, err)
	}
	fi, err := os.Stat(d.path(key))
	if err != nil {
		return storage.Info{}, d.notFound("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return storage.Info{}, fmt.Errorf("stat %q: %w", key, storage.ErrNotFound)
	}
	return storage.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Writer implements storage.Driver.
func (d *Driver) Writer(ctx context.Context, key string, offset int64) (storage.Writer, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("write %q: %w", key, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("write %q at %d: %w", key, offset, storage.ErrInvalidOffset)
	}
	p := d.pendingPath(key)
	if offset == 0 {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if errors.Is(err, fs.ErrNotExist) {
			// The pending area was removed under us: recreate it.
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("write %q: %w", key, err)
		}
		// The new directory entry is made durable by the first Close (a
		// resume after a crash must find the file Close made durable);
		// Commit renames the file and syncs the directory it lands in.
		return &writer{ctx: ctx, d: d, key: key, f: f, path: p, newEntry: true}, nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return nil, d.notFound("resume", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("resume %q: %w", key, err)
	}
	if fi.Size() < offset {
		f.Close()
		return nil, fmt.Errorf("resume %q at %d, pending write holds %d bytes: %w",
			key, offset, fi.Size(), storage.ErrInvalidOffset)
	}
	if fi.Size() > offset {
		// Bytes past offset came from a request that did not complete.
		if err := f.Truncate(offset); err != nil {
			f.Close()
			return nil, fmt.Errorf("resume %q: truncate: %w", key, err)
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("resume %q: %w", key, err)
	}
	return &writer{ctx: ctx, d: d, key: key, f: f, path: p, size: offset}, nil
}

// Move implements storage.Driver with a rename.
func (d *Driver) Move(ctx context.Context, from, to string) error {
	if err := checkKey(from); err != nil {
		return err
	}
	if err := checkKey(to); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("move %q to %q: %w", from, to, err)
	}
	src := d.path(from)
	fi, err := os.Stat(src)
	if err != nil {
		return d.notFound("move", from, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("move %q: %w", from, storage.ErrNotFound)
	}
	if from == to {
		return nil
	}
	if err := d.renameInto(src, to); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(src); errors.Is(serr, fs.ErrNotExist) {
				// Moved or deleted concurrently.
				return fmt.Errorf("move %q: %w", from, storage.ErrNotFound)
			}
		}
		return fmt.Errorf("move %q to %q: %w", from, to, err)
	}
	d.removeEmptyParents(from)
	return nil
}

// Rename implements storage.Renamer: Move is already a rename.
func (d *Driver) Rename(ctx context.Context, from, to string) error {
	return d.Move(ctx, from, to)
}

// Delete implements storage.Driver.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	if err := os.Remove(d.pendingPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %q: pending write: %w", key, err)
	}
	p := d.path(key)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("delete %q: %w", key, err)
	case fi.IsDir():
		return nil // "a" when only "a/b" exists: no object "a".
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	d.removeEmptyParents(key)
	return nil
}

// Walk implements storage.Driver. It visits directories in an order that
// yields keys in lexical order ("a-b" before "a/b"), skipping the pending
// area and subtrees that cannot match prefix.
func (d *Driver) Walk(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	return d.walk(ctx, d.root, "", prefix, fn)
}

func (d *Driver) walk(ctx context.Context, dir, keyDir, prefix string, fn func(storage.Info) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("walk %q: %w", prefix, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && keyDir != "" {
			return nil // removed while walking
		}
		return fmt.Errorf("walk %q: %w", prefix, err)
	}
	type entry struct {
		name  string // key of a file; key + "/" of a directory
		dirEn fs.DirEntry
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		k := keyDir + e.Name()
		switch {
		case e.IsDir():
			if keyDir == "" && e.Name() == pendingDir {
				continue
			}
			k += "/"
			if !strings.HasPrefix(k, prefix) && !strings.HasPrefix(prefix, k) {
				continue
			}
		case e.Type().IsRegular():
			if !strings.HasPrefix(k, prefix) {
				continue
			}
		default:
			continue // symlinks, sockets...: not objects
		}
		list = append(list, entry{k, e})
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for _, e := range list {
		if e.dirEn.IsDir() {
			if err := d.walk(ctx, filepath.Join(dir, e.dirEn.Name()), e.name, prefix, fn); err != nil {
				return err
			}
			continue
		}
		fi, err := e.dirEn.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while walking
		}
		if err != nil {
			return fmt.Errorf("walk %q: %w", e.name, err)
		}
		if err := fn(storage.Info{Key: e.name, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// renameInto renames src to the path of key, creating parent directories
// and fsyncing the destination directory. A concurrent Delete may remove a
// freshly created empty parent, so the rename is retried a few times.
func (d *Driver) renameInto(src, key string) error {
	dst := d.path(key)
	var err error
	for range 5 {
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			continue
		}
		if err = os.Rename(src, dst); err != nil {
			if _, serr := os.Stat(src); serr != nil {
				return err // the source itself is gone
			}
			continue
		}
		return syncDir(filepath.Dir(dst))
	}
	return err
}

// removeEmptyParents removes the now empty directories above key, best
// effort, stopping at the first one that is not empty and never at or
// above root.
func (d *Driver) removeEmptyParents(key string) {
	for dir := filepath.Dir(d.path(key)); dir != d.root && strings.HasPrefix(dir, d.root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if err := os.Remove(dir); err != nil {
			return
		}
	}
}

// notFound maps fs.ErrNotExist (and ENOTDIR, a file where a directory of
// the key should be) to storage.ErrNotFound.
func (d *Driver) notFound(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s %q: %w", op, key, storage.ErrNotFound)
	}
	return fmt.Errorf("%s %q: %w", op, key, err)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// writer is a pending write: an open file in the pending area.
type writer struct {
	// ctx is the context Writer was called with: Write and Close stop once
	// it ends (the Writer lives for one request, as io.Writer has no ctx).
	ctx  context.Context //nolint:containedctx // see above
	d    *Driver
	key  string
	path string
	f    *os.File // nil once closed
	size int64
	// newEntry: the pending file was created by this Writer and its
	// directory entry is not yet durable.
	newEntry bool
	// started is the size up to which writeback has been started.
	started int64
}

// writebackEvery is how much a writer lets pile up in the page cache
// before it asks the kernel to start writing it out (sync_file_range,
// without waiting): the disk then works while the body still arrives, and
// the fsync at commit waits only for the last few megabytes instead of
// the whole blob.
const writebackEvery = 8 << 20

func (w *writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, fmt.Errorf("write %q: %w", w.key, errWriterClosed)
	}
	if err := w.ctx.Err(); err != nil {
		return 0, fmt.Errorf("write %q: %w", w.key, err)
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("write %q: %w", w.key, err)
	}
	if w.size-w.started >= writebackEvery {
		// Only a hint: an error here shows again at the fsync.
		if rc, err := w.f.SyscallConn(); err == nil {
			off, n := w.started, w.size-w.started
			_ = rc.Control(func(fd uintptr) { _ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE) })
		}
		w.started = w.size
	}
	return n, nil
}

func (w *writer) Size() int64 { return w.size }

// Close fsyncs and closes the pending file; the write stays pending.
func (w *writer) Close() error {
	if w.f == nil {
		return fmt.Errorf("close %q: %w", w.key, errWriterClosed)
	}
	if err := w.ctx.Err(); err != nil {
		// The request is gone: make nothing durable. Bytes the file
		// already holds past the caller's recorded offset are cut by the
		// next resume.
		w.f.Close()
		w.f = nil
		return fmt.Errorf("close %q: %w", w.key, err)
	}
	err := w.syncClose()
	if err == nil && w.newEntry {
		err = syncDir(filepath.Dir(w.path))
		w.newEntry = err != nil
	}
	if err != nil {
		return fmt.Errorf("close %q: %w", w.key, err)
	}
	return nil
}

func (w *writer) syncClose() error {
	f := w.f
	w.f = nil
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit fsyncs the pending file, renames it to its key and fsyncs the
// key's directory.
func (w *writer) Commit(ctx context.Context) error {
	return w.commitAs(ctx, w.key)
}

// CommitAs implements storage.KeyCommitter: Commit, renaming the pending
// file to key instead.
func (w *writer) CommitAs(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return w.commitAs(ctx, key)
}

func (w *writer) commitAs(ctx context.Context, key string) error {
	if w.f == nil {
		return fmt.Errorf("commit %q: %w", key, errWriterClosed)
	}
	if err := w.syncClose(); err != nil {
		return fmt.Errorf("commit %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit %q: %w", key, err)
	}
	if err := w.d.renameInto(w.path, key); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(w.path); errors.Is(serr, fs.ErrNotExist) {
				// Deleted or cancelled by someone else meanwhile.
				return fmt.Errorf("commit %q: pending write vanished: %w", key, storage.ErrNotFound)
			}
		}
		return fmt.Errorf("commit %q: %w", key, err)
	}
	return nil
}

// Cancel closes and removes the pending file.
func (w *writer) Cancel(ctx context.Context) error {
	if w.f == nil {
		return fmt.Errorf("cancel %q: %w", w.key, errWriterClosed)
	}
	f := w.f
	w.f = nil
	f.Close() // the data is being discarded: its close error does not matter
	if err := os.Remove(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cancel %q: %w", w.key, err)
	}
	return nil
}
