// Package storagetest is the conformance suite every storage.Driver must
// pass. It owns the executable form of the contract written in package
// storage; it imports only the standard library, go-cmp and
// internal/storage, never a concrete driver (drivers import it from their
// own tests).
//
// Usage, from a driver's _test.go:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) (a, b storage.Driver) {
//			root := t.TempDir()
//			return mustNew(t, root), mustNew(t, root)
//		})
//	}
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/storage"
)

// NewPairFunc returns two independent Driver instances over one fresh,
// empty backing store that no other test uses: two processes or replicas
// sharing one directory or bucket. The instances must not share in-memory
// state, so that a pending write Closed on a can be resumed on b. Tests
// that need one driver use a. Cleanup belongs to t (t.Cleanup).
type NewPairFunc func(t *testing.T) (a, b storage.Driver)

// MiB is 1<<20 bytes.
const MiB = 1 << 20

// Run checks the drivers made by newPair against the storage contract. Each
// subtest calls newPair once and runs in parallel with the others.
func Run(t *testing.T, newPair NewPairFunc) {
	s := &suite{newPair: newPair}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"ReadMissing", s.testReadMissing},
		{"WriteCommitRead", s.testWriteCommitRead},
		{"ReadOffsets", s.testReadOffsets},
		{"ZeroByteObject", s.testZeroByte},
		{"Overwrite", s.testOverwrite},
		{"PendingInvisible", s.testPendingInvisible},
		{"PendingOverwriteKeepsCommitted", s.testPendingOverwriteKeepsCommitted},
		{"ResumeOnAnotherInstance", s.testResumeAcrossInstances},
		{"ResumeRewindsToEarlierClose", s.testResumeRewinds},
		{"ResumeTruncatesUnflushedTail", s.testResumeTruncatesTail},
		{"ResumePastEnd", s.testResumePastEnd},
		{"ResumeMissing", s.testResumeMissing},
		{"WriterRestartDiscardsPending", s.testWriterRestart},
		{"Cancel", s.testCancel},
		{"WriterStopsWhenContextEnds", s.testWriterContext},
		{"WriterUnusableAfterEnd", s.testWriterUnusableAfterEnd},
		{"Move", s.testMove},
		{"MoveMissing", s.testMoveMissing},
		{"Delete", s.testDelete},
		{"DeleteDropsPending", s.testDeleteDropsPending},
		{"Walk", s.testWalk},
		{"WalkStops", s.testWalkStops},
		{"InvalidKeys", s.testInvalidKeys},
		{"LargeStreamedObject", s.testLargeObject},
		{"ConcurrentWriters", s.testConcurrentWriters},
		{"OpenFile", s.testOpenFile},
		{"CommitAs", s.testCommitAs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
}

type suite struct {
	newPair NewPairFunc
}

func (s *suite) one(t *testing.T) storage.Driver {
	t.Helper()
	a, _ := s.newPair(t)
	return a
}

// data returns n pseudo-random bytes determined by seed.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8(seedBytes(seed))
	r.Read(b)
	return b
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

// put writes b at key in one Writer and commits it.
func put(t *testing.T, d storage.Driver, key string, b []byte) {
	t.Helper()
	w, err := d.Writer(t.Context(), key, 0)
	if err != nil {
		t.Fatalf("Writer(%q, 0): %v", key, err)
	}
	write(t, w, b)
	if err := w.Commit(t.Context()); err != nil {
		t.Fatalf("Commit(%q): %v", key, err)
	}
}

func write(t *testing.T, w storage.Writer, b []byte) {
	t.Helper()
	before := w.Size()
	n, err := w.Write(b)
	if err != nil || n != len(b) {
		t.Fatalf("Write(%d bytes) = %d, %v", len(b), n, err)
	}
	if got, want := w.Size(), before+int64(len(b)); got != want {
		t.Fatalf("Size() after Write = %d, want %d", got, want)
	}
}

// read returns the committed object at key from offset.
func read(t *testing.T, d storage.Driver, key string, offset int64) []byte {
	t.Helper()
	r, err := d.Reader(t.Context(), key, offset)
	if err != nil {
		t.Fatalf("Reader(%q, %d): %v", key, offset, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

// checkContent fails unless the committed object at key is want, in
// content (compared by length and sha256, not byte dumps) and in Stat.
func checkContent(t *testing.T, d storage.Driver, key string, want []byte) {
	t.Helper()
	got := read(t, d, key, 0)
	if !bytes.Equal(got, want) {
		t.Fatalf("content of %q: got %d bytes sha256 %x, want %d bytes sha256 %x",
			key, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
	info, err := d.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if info.Key != key || info.Size != int64(len(want)) || info.ModTime.IsZero() {
		t.Fatalf("Stat(%q) = %+v, want key %q, size %d and a modification time", key, info, key, len(want))
	}
}

// checkAbsent fails unless key has no committed object.
func checkAbsent(t *testing.T, d storage.Driver, key string) {
	t.Helper()
	if _, err := d.Stat(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat(%q) err = %v, want ErrNotFound", key, err)
	}
	r, err := d.Reader(t.Context(), key, 0)
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Reader(%q) err = %v, want ErrNotFound", key, err)
	}
}

type entry struct {
	Key  string
	Size int64
}

func walk(t *testing.T, d storage.Driver, prefix string) []entry {
	t.Helper()
	var got []entry
	err := d.Walk(t.Context(), prefix, func(i storage.Info) error {
		if i.ModTime.IsZero() {
			t.Errorf("Walk: %q has no modification time", i.Key)
		}
		got = append(got, entry{i.Key, i.Size})
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%q): %v", prefix, err)
	}
	return got
}

func (s *suite) testReadMissing(t *testing.T) {
	d := s.one(t)
	checkAbsent(t, d, "a/b")
	put(t, d, "a/b", []byte("x"))
	checkAbsent(t, d, "a/c")
	checkAbsent(t, d, "a")     // a "directory" is not an object
	checkAbsent(t, d, "a/b/c") // below an object
}

func (s *suite) testWriteCommitRead(t *testing.T) {
	d := s.one(t)
	tests := []struct {
		name, key string
		chunks    []int
	}{
		{"one byte", "one", []int{1}},
		{"small", "dir/small", []int{5}},
		{"chunks", "x/y/z/chunks", []int{3, 0, 1000, 7, 1}},
		{"one MiB in 64 KiB", "mib", slices.Repeat([]int{64 << 10}, 16)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []byte
			w, err := d.Writer(t.Context(), tt.key, 0)
			if err != nil {
				t.Fatal(err)
			}
			if w.Size() != 0 {
				t.Fatalf("new Writer Size() = %d, want 0", w.Size())
			}
			for j, n := range tt.chunks {
				b := data(uint64(100*i+j), n)
				write(t, w, b)
				want = append(want, b...)
			}
			if err := w.Commit(t.Context()); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			checkContent(t, d, tt.key, want)
		})
	}
}

func (s *suite) testReadOffsets(t *testing.T) {
	d := s.one(t)
	content := []byte("0123456789")
	put(t, d, "obj", content)
	tests := []struct {
		offset  int64
		want    []byte
		wantErr error
	}{
		{0, content, nil},
		{1, content[1:], nil},
		{9, content[9:], nil},
		{10, []byte{}, nil},
		{11, nil, storage.ErrInvalidOffset},
		{1 << 40, nil, storage.ErrInvalidOffset},
		{-1, nil, storage.ErrInvalidOffset},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.offset), func(t *testing.T) {
			r, err := d.Reader(t.Context(), "obj", tt.offset)
			if tt.wantErr != nil {
				if err == nil {
					r.Close()
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Reader(obj, %d) err = %v, want %v", tt.offset, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reader(obj, %d): %v", tt.offset, err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(tt.want), string(got)); diff != "" {
				t.Errorf("Reader(obj, %d) (-want +got):\n%s", tt.offset, diff)
			}
		})
	}
}

func (s *suite) testZeroByte(t *testing.T) {
	a, b := s.newPair(t)
	put(t, a, "empty/now", nil)
	checkContent(t, a, "empty/now", []byte{})

	// A resume that adds nothing, then commits.
	w, err := a.Writer(t.Context(), "empty/resumed", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("abc"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = b.Writer(t.Context(), "empty/resumed", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkContent(t, a, "empty/resumed", []byte("abc"))

	r, err := a.Reader(t.Context(), "empty/now", 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if diff := cmp.Diff([]entry{{"empty/now", 0}, {"empty/resumed", 3}}, walk(t, a, "")); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
}

func (s *suite) testOverwrite(t *testing.T) {
	d := s.one(t)
	put(t, d, "k", []byte("first, longer content"))
	put(t, d, "k", []byte("second"))
	checkContent(t, d, "k", []byte("second"))
	put(t, d, "k", nil)
	checkContent(t, d, "k", []byte{})
}

func (s *suite) testPendingInvisible(t *testing.T) {
	a, b := s.newPair(t)
	w, err := a.Writer(t.Context(), "p/key", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("pending"))
	for _, d := range []storage.Driver{a, b} {
		checkAbsent(t, d, "p/key")
		if got := walk(t, d, ""); len(got) != 0 {
			t.Fatalf("Walk with an open pending write = %v, want nothing", got)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []storage.Driver{a, b} {
		checkAbsent(t, d, "p/key")
		if got := walk(t, d, ""); len(got) != 0 {
			t.Fatalf("Walk with a closed pending write = %v, want nothing", got)
		}
	}
	w, err = b.Writer(t.Context(), "p/key", 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkContent(t, a, "p/key", []byte("pending"))
	if diff := cmp.Diff([]entry{{"p/key", 7}}, walk(t, b, "")); diff != "" {
		t.Errorf("Walk after Commit (-want +got):\n%s", diff)
	}
}

func (s *suite) testPendingOverwriteKeepsCommitted(t *testing.T) {
	a, b := s.newPair(t)
	put(t, a, "k", []byte("old"))
	w, err := a.Writer(t.Context(), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("new content"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkContent(t, b, "k", []byte("old"))
	w, err = b.Writer(t.Context(), "k", 11)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Cancel(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkContent(t, a, "k", []byte("old"))
}

// testResumeAcrossInstances writes an object in chunks, each by a new
// Writer on alternating instances, closing in between, with chunk sizes
// around S3's 5 MiB minimum part size.
func (s *suite) testResumeAcrossInstances(t *testing.T) {
	a, b := s.newPair(t)
	tests := []struct {
		name   string
		chunks []int
	}{
		{"tiny", []int{1, 1, 1, 2}},
		{"empty chunks", []int{0, 4, 0, 0, 3, 0}},
		{"small", []int{1000, 64 << 10, 3, 100 << 10}},
		{"folding small into parts", []int{3 * MiB, 3 * MiB, 1, 5*MiB - 1, 2 * MiB}},
		{"exact parts", []int{5 * MiB, 5 * MiB, 5 * MiB}},
		{"large then small", []int{11*MiB + 3, 7, 6 * MiB}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := fmt.Sprintf("resume/%d", i)
			var want []byte
			drivers := []storage.Driver{a, b}
			w, err := a.Writer(t.Context(), key, 0)
			if err != nil {
				t.Fatal(err)
			}
			for j, n := range tt.chunks {
				if j > 0 {
					w, err = drivers[j%2].Writer(t.Context(), key, int64(len(want)))
					if err != nil {
						t.Fatalf("chunk %d: Writer(%q, %d): %v", j, key, len(want), err)
					}
					if w.Size() != int64(len(want)) {
						t.Fatalf("chunk %d: resumed Size() = %d, want %d", j, w.Size(), len(want))
					}
				}
				c := data(uint64(1000*i+j), n)
				write(t, w, c)
				want = append(want, c...)
				if err := w.Close(); err != nil {
					t.Fatalf("chunk %d: Close: %v", j, err)
				}
				checkAbsent(t, drivers[(j+1)%2], key)
			}
			w, err = drivers[len(tt.chunks)%2].Writer(t.Context(), key, int64(len(want)))
			if err != nil {
				t.Fatalf("final Writer: %v", err)
			}
			if err := w.Commit(t.Context()); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			checkContent(t, a, key, want)
			checkContent(t, b, key, want)
			if _, err := a.Writer(t.Context(), key, int64(len(want))); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("resume after Commit err = %v, want ErrNotFound", err)
			}
		})
	}
}

// testResumeRewinds covers a request that wrote and closed bytes that its
// caller then failed to record: the next request resumes at the offset of
// the earlier Close, on another instance, and the extra bytes are dropped.
func (s *suite) testResumeRewinds(t *testing.T) {
	a, b := s.newPair(t)
	tests := []struct {
		name        string
		first, lost int
		next        int
	}{
		{"small", 10, 5, 3},
		{"lost crosses a part", 3 * MiB, 8 * MiB, 1 * MiB},
		{"after parts", 6 * MiB, 2 * MiB, 6 * MiB},
		{"lost parts replaced", 6 * MiB, 12 * MiB, 1 * MiB},
		{"nothing lost", 4, 0, 4},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := fmt.Sprintf("rewind/%d", i)
			first, lost, next := data(uint64(i), tt.first), data(uint64(i+100), tt.lost), data(uint64(i+200), tt.next)
			w, err := a.Writer(t.Context(), key, 0)
			if err != nil {
				t.Fatal(err)
			}
			write(t, w, first)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w, err = b.Writer(t.Context(), key, int64(len(first)))
			if err != nil {
				t.Fatal(err)
			}
			write(t, w, lost)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w, err = a.Writer(t.Context(), key, int64(len(first)))
			if err != nil {
				t.Fatalf("rewinding Writer(%q, %d): %v", key, len(first), err)
			}
			if w.Size() != int64(len(first)) {
				t.Fatalf("rewound Size() = %d, want %d", w.Size(), len(first))
			}
			write(t, w, next)
			if err := w.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			checkContent(t, b, key, append(first, next...))
		})
	}
	// A writer that died without Close leaves the pending write at its
	// last Close.
	t.Run("unclosed writer", func(t *testing.T) {
		t.Parallel()
		w, err := a.Writer(t.Context(), "rewind/unclosed", 0)
		if err != nil {
			t.Fatal(err)
		}
		first := data(7, 2*MiB)
		write(t, w, first)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w, err = b.Writer(t.Context(), "rewind/unclosed", 2*MiB)
		if err != nil {
			t.Fatal(err)
		}
		write(t, w, data(8, 12*MiB)) // never closed: the "request" died
		w, err = a.Writer(t.Context(), "rewind/unclosed", 2*MiB)
		if err != nil {
			t.Fatal(err)
		}
		last := data(9, 4*MiB)
		write(t, w, last)
		if err := w.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkContent(t, b, "rewind/unclosed", append(first, last...))
	})
}

// testResumeTruncatesTail resumes below the size of the last Close, within
// a pending write smaller than 5 MiB (which every driver holds in a form it
// can truncate).
func (s *suite) testResumeTruncatesTail(t *testing.T) {
	a, b := s.newPair(t)
	w, err := a.Writer(t.Context(), "trunc", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("0123456789"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = b.Writer(t.Context(), "trunc", 4)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != 4 {
		t.Fatalf("Size() after resume at 4 = %d", w.Size())
	}
	write(t, w, []byte("xyz"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = a.Writer(t.Context(), "trunc", 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkContent(t, b, "trunc", []byte("0123xyz"))
}

func (s *suite) testResumePastEnd(t *testing.T) {
	a, b := s.newPair(t)
	w, err := a.Writer(t.Context(), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("abc"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{4, 1 << 30, -1} {
		w, err := b.Writer(t.Context(), "k", off)
		if err == nil {
			w.Cancel(t.Context())
		}
		if !errors.Is(err, storage.ErrInvalidOffset) {
			t.Fatalf("Writer(k, %d) with 3 bytes pending: err = %v, want ErrInvalidOffset", off, err)
		}
	}
	// The refused resume did not damage the pending write.
	w, err = b.Writer(t.Context(), "k", 3)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("d"))
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkContent(t, a, "k", []byte("abcd"))
}

func (s *suite) testResumeMissing(t *testing.T) {
	a, _ := s.newPair(t)
	if _, err := a.Writer(t.Context(), "never", 1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("resume of a missing pending write: err = %v, want ErrNotFound", err)
	}
	// A committed object is not a pending write.
	put(t, a, "done", []byte("abc"))
	if _, err := a.Writer(t.Context(), "done", 3); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("resume of a committed key: err = %v, want ErrNotFound", err)
	}
}

// testWriterRestart: Writer with offset 0 discards an earlier pending write.
func (s *suite) testWriterRestart(t *testing.T) {
	a, b := s.newPair(t)
	w, err := a.Writer(t.Context(), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, data(1, 6*MiB+5))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = b.Writer(t.Context(), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != 0 {
		t.Fatalf("restarted Size() = %d, want 0", w.Size())
	}
	write(t, w, []byte("fresh"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Writer(t.Context(), "k", 6*MiB+5); !errors.Is(err, storage.ErrInvalidOffset) {
		t.Fatalf("resume at the discarded size: err = %v, want ErrInvalidOffset", err)
	}
	w, err = a.Writer(t.Context(), "k", 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkContent(t, b, "k", []byte("fresh"))
}

// testWriterContext: a Writer does its I/O under the context it was made
// with (the request's): once that ends, writing on fails with the
// context's error instead of storing more, and nothing becomes visible.
func (s *suite) testWriterContext(t *testing.T) {
	a, b := s.newPair(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := a.Writer(ctx, "ctx/key", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, data(7, 6*MiB)) // drivers with 5 MiB parts upload one
	cancel()
	var werr error
	for range 4 {
		if _, werr = w.Write(data(8, 5*MiB)); werr != nil {
			break
		}
	}
	if werr == nil {
		werr = w.Close()
	} else {
		_ = w.Close()
	}
	if !errors.Is(werr, context.Canceled) {
		t.Fatalf("writing 20 MiB and closing after the context ended: err = %v, want context.Canceled", werr)
	}
	checkAbsent(t, b, "ctx/key")
}

func (s *suite) testCancel(t *testing.T) {
	a, b := s.newPair(t)
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"small", 10},
		{"with parts", 12 * MiB},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("cancel/%d", i)
			w, err := a.Writer(t.Context(), key, 0)
			if err != nil {
				t.Fatal(err)
			}
			write(t, w, data(uint64(i), tt.size))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w, err = b.Writer(t.Context(), key, int64(tt.size))
			if err != nil {
				t.Fatal(err)
			}
			write(t, w, []byte("more"))
			if err := w.Cancel(t.Context()); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			checkAbsent(t, a, key)
			if _, err := a.Writer(t.Context(), key, int64(tt.size)+4); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("resume after Cancel: err = %v, want ErrNotFound", err)
			}
		})
	}
	// An open writer cancelled without Close.
	w, err := a.Writer(t.Context(), "cancel/open", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("x"))
	if err := w.Cancel(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkAbsent(t, b, "cancel/open")
	if got := walk(t, b, ""); len(got) != 0 {
		t.Fatalf("Walk after cancels = %v, want nothing", got)
	}
}

func (s *suite) testWriterUnusableAfterEnd(t *testing.T) {
	d := s.one(t)
	for _, end := range []string{"Close", "Commit", "Cancel"} {
		t.Run(end, func(t *testing.T) {
			w, err := d.Writer(t.Context(), "end/"+end, 0)
			if err != nil {
				t.Fatal(err)
			}
			write(t, w, []byte("x"))
			switch end {
			case "Close":
				err = w.Close()
			case "Commit":
				err = w.Commit(t.Context())
			case "Cancel":
				err = w.Cancel(t.Context())
			}
			if err != nil {
				t.Fatalf("%s: %v", end, err)
			}
			if _, err := w.Write([]byte("y")); err == nil {
				t.Errorf("Write after %s succeeded", end)
			}
			if err := w.Commit(t.Context()); err == nil {
				t.Errorf("Commit after %s succeeded", end)
			}
		})
	}
	checkContent(t, d, "end/Commit", []byte("x"))
	checkAbsent(t, d, "end/Close")
	checkAbsent(t, d, "end/Cancel")
}

func (s *suite) testMove(t *testing.T) {
	a, b := s.newPair(t)
	put(t, a, "uploads/1", []byte("one"))
	if err := a.Move(t.Context(), "uploads/1", "blobs/sha256/aa/aa1"); err != nil {
		t.Fatalf("Move: %v", err)
	}
	checkAbsent(t, b, "uploads/1")
	checkContent(t, b, "blobs/sha256/aa/aa1", []byte("one"))

	// Replacing an existing object.
	put(t, a, "uploads/2", []byte("two, replacing one"))
	if err := b.Move(t.Context(), "uploads/2", "blobs/sha256/aa/aa1"); err != nil {
		t.Fatalf("Move over an existing object: %v", err)
	}
	checkContent(t, a, "blobs/sha256/aa/aa1", []byte("two, replacing one"))
	checkAbsent(t, a, "uploads/2")

	// A larger object (multipart copy on object stores).
	big := data(3, 13*MiB)
	put(t, a, "uploads/big", big)
	if err := a.Move(t.Context(), "uploads/big", "blobs/big"); err != nil {
		t.Fatalf("Move big: %v", err)
	}
	checkContent(t, b, "blobs/big", big)
	checkAbsent(t, b, "uploads/big")

	// An empty object.
	put(t, a, "uploads/empty", nil)
	if err := a.Move(t.Context(), "uploads/empty", "blobs/empty"); err != nil {
		t.Fatalf("Move empty: %v", err)
	}
	checkContent(t, b, "blobs/empty", []byte{})

	want := []entry{{"blobs/big", 13 * MiB}, {"blobs/empty", 0}, {"blobs/sha256/aa/aa1", 18}}
	if diff := cmp.Diff(want, walk(t, b, "")); diff != "" {
		t.Errorf("Walk after moves (-want +got):\n%s", diff)
	}
}

func (s *suite) testMoveMissing(t *testing.T) {
	d := s.one(t)
	if err := d.Move(t.Context(), "nope", "dest"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Move(missing) err = %v, want ErrNotFound", err)
	}
	put(t, d, "dest", []byte("kept"))
	if err := d.Move(t.Context(), "nope", "dest"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Move(missing) over an object: err = %v, want ErrNotFound", err)
	}
	checkContent(t, d, "dest", []byte("kept"))
	// A pending write is not a committed object.
	w, err := d.Writer(t.Context(), "pending", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("p"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(t.Context(), "pending", "dest"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Move(pending only) err = %v, want ErrNotFound", err)
	}
}

func (s *suite) testDelete(t *testing.T) {
	a, b := s.newPair(t)
	put(t, a, "d/x/1", []byte("1"))
	put(t, a, "d/x/2", []byte("22"))
	put(t, a, "d/y", []byte("333"))
	if err := b.Delete(t.Context(), "d/x/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkAbsent(t, a, "d/x/1")
	checkContent(t, a, "d/x/2", []byte("22"))
	for _, key := range []string{"d/x/1", "missing", "d/x/1/below", "d"} {
		if err := a.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete(%q) of a missing key: %v", key, err)
		}
	}
	if err := a.Delete(t.Context(), "d/x/2"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]entry{{"d/y", 3}}, walk(t, b, "")); diff != "" {
		t.Errorf("Walk after deletes (-want +got):\n%s", diff)
	}
	// The emptied "directory" can hold an object again.
	put(t, b, "d/x", []byte("now a file"))
	checkContent(t, a, "d/x", []byte("now a file"))
}

func (s *suite) testDeleteDropsPending(t *testing.T) {
	a, b := s.newPair(t)
	for _, size := range []int{3, 7 * MiB} {
		key := fmt.Sprintf("dp/%d", size)
		put(t, a, key, []byte("committed"))
		w, err := a.Writer(t.Context(), key, 0)
		if err != nil {
			t.Fatal(err)
		}
		write(t, w, data(uint64(size), size))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(t.Context(), key); err != nil {
			t.Fatal(err)
		}
		checkAbsent(t, a, key)
		if _, err := a.Writer(t.Context(), key, int64(size)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("resume after Delete: err = %v, want ErrNotFound", err)
		}
	}
	// Pending only, never committed.
	w, err := a.Writer(t.Context(), "dp/only", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("abc"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(t.Context(), "dp/only"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Writer(t.Context(), "dp/only", 3); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("resume after Delete: err = %v, want ErrNotFound", err)
	}
}

func (s *suite) testWalk(t *testing.T) {
	a, b := s.newPair(t)
	keys := []string{
		"repo/b", "repo/a/2", "repo/a/10", "repo/a/1", "repo-x", "repo.y", "repo0",
		"z", "A", "blobs/sha256/ab/abcd", "blobs/sha256/ab/abce", "blobs/sha256/ac/ac00",
		"blobs/sha512/ab/ab12",
	}
	for i, k := range keys {
		put(t, a, k, data(uint64(i), i))
	}
	// A pending write is never walked.
	w, err := a.Writer(t.Context(), "repo/pending", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("p"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	size := func(k string) int64 { return int64(slices.Index(keys, k)) }
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{
			"A", "blobs/sha256/ab/abcd", "blobs/sha256/ab/abce", "blobs/sha256/ac/ac00",
			"blobs/sha512/ab/ab12", "repo-x", "repo.y", "repo/a/1", "repo/a/10", "repo/a/2",
			"repo/b", "repo0", "z",
		}},
		{"repo", []string{"repo-x", "repo.y", "repo/a/1", "repo/a/10", "repo/a/2", "repo/b", "repo0"}},
		{"repo/", []string{"repo/a/1", "repo/a/10", "repo/a/2", "repo/b"}},
		{"repo/a/1", []string{"repo/a/1", "repo/a/10"}},
		{"blobs/sha256/a", []string{"blobs/sha256/ab/abcd", "blobs/sha256/ab/abce", "blobs/sha256/ac/ac00"}},
		{"blobs/sha256/ab/", []string{"blobs/sha256/ab/abcd", "blobs/sha256/ab/abce"}},
		{"blobs/sha256/ab/abcd", []string{"blobs/sha256/ab/abcd"}},
		{"blobs/sha256/ab/abcde", nil},
		{"nothing", nil},
		{"zz", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("prefix %q", tt.prefix), func(t *testing.T) {
			var want []entry
			for _, k := range tt.want {
				want = append(want, entry{k, size(k)})
			}
			if diff := cmp.Diff(want, walk(t, b, tt.prefix)); diff != "" {
				t.Errorf("Walk(%q) (-want +got):\n%s", tt.prefix, diff)
			}
		})
	}
}

func (s *suite) testWalkStops(t *testing.T) {
	d := s.one(t)
	for _, k := range []string{"a", "b", "c"} {
		put(t, d, k, []byte(k))
	}
	stop := errors.New("stop")
	var seen []string
	err := d.Walk(t.Context(), "", func(i storage.Info) error {
		seen = append(seen, i.Key)
		if i.Key == "b" {
			return fmt.Errorf("wrapped: %w", stop)
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Walk err = %v, want the callback's error", err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, seen); diff != "" {
		t.Errorf("keys seen before the stop (-want +got):\n%s", diff)
	}
	// Deleting the visited key from the callback is allowed.
	err = d.Walk(t.Context(), "", func(i storage.Info) error {
		return d.Delete(t.Context(), i.Key)
	})
	if err != nil {
		t.Fatalf("Walk deleting as it goes: %v", err)
	}
	if got := walk(t, d, ""); len(got) != 0 {
		t.Fatalf("Walk after deleting all = %v", got)
	}
}

func (s *suite) testInvalidKeys(t *testing.T) {
	d := s.one(t)
	put(t, d, "valid", []byte("v"))
	ctx := t.Context()
	ops := []struct {
		name string
		call func(key string) error
	}{
		{"Reader", func(k string) error {
			r, err := d.Reader(ctx, k, 0)
			if err == nil {
				r.Close()
			}
			return err
		}},
		{"Writer", func(k string) error {
			w, err := d.Writer(ctx, k, 0)
			if err == nil {
				w.Cancel(ctx)
			}
			return err
		}},
		{"Resume", func(k string) error {
			w, err := d.Writer(ctx, k, 1)
			if err == nil {
				w.Cancel(ctx)
			}
			return err
		}},
		{"Stat", func(k string) error { _, err := d.Stat(ctx, k); return err }},
		{"Delete", func(k string) error { return d.Delete(ctx, k) }},
		{"MoveFrom", func(k string) error { return d.Move(ctx, k, "dest") }},
		{"MoveTo", func(k string) error { return d.Move(ctx, "valid", k) }},
	}
	keys := []string{
		"", "/abs", "a//b", "a/", "/", ".", "..", "./a", "a/.", "a/./b", "../a", "a/..", "a/../b",
		`a\b`, `..\a`, "a\x00b",
	}
	for _, op := range ops {
		for _, k := range keys {
			if err := op.call(k); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("%s(%q) err = %v, want ErrInvalidKey", op.name, k, err)
			}
		}
	}
	checkContent(t, d, "valid", []byte("v"))
	// Unusual but valid keys.
	for _, k := range []string{"a..b", "...", ".hidden", "a/.b", "sp ace", "ünï", "a:b@c+d"} {
		put(t, d, k, []byte(k))
		checkContent(t, d, k, []byte(k))
	}
}

// testLargeObject streams a 64 MiB object through a Writer in 1 MiB writes
// and reads it back, comparing sha256 digests; neither side holds the
// object in memory.
func (s *suite) testLargeObject(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB object skipped in -short mode")
	}
	d := s.one(t)
	const size = 64 * MiB
	w, err := d.Writer(t.Context(), "large/object", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8(seedBytes(64)), size), want)
	if _, err := io.CopyBuffer(w, src, make([]byte, MiB)); err != nil {
		t.Fatalf("streaming write: %v", err)
	}
	if w.Size() != size {
		t.Fatalf("Size() = %d, want %d", w.Size(), size)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	info, err := d.Stat(t.Context(), "large/object")
	if err != nil || info.Size != size {
		t.Fatalf("Stat = %+v, %v; want size %d", info, err, size)
	}
	for _, off := range []int64{0, size - 3*MiB - 7} {
		r, err := d.Reader(t.Context(), "large/object", off)
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.New()
		n, err := io.Copy(got, r)
		r.Close()
		if err != nil || n != size-off {
			t.Fatalf("read from %d: %d bytes, %v; want %d bytes", off, n, err, size-off)
		}
		ref := want
		if off > 0 {
			ref = sha256.New()
			src := rand.NewChaCha8(seedBytes(64))
			io.CopyN(io.Discard, src, off)
			io.CopyN(ref, src, size-off)
		}
		if !bytes.Equal(got.Sum(nil), ref.Sum(nil)) {
			t.Fatalf("sha256 of the object read from %d differs from what was written", off)
		}
	}
}

func (s *suite) testConcurrentWriters(t *testing.T) {
	a, b := s.newPair(t)
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("concurrent/%d", i)
			d := []storage.Driver{a, b}[i%2]
			errs <- func() error {
				w, err := d.Writer(context.Background(), key, 0)
				if err != nil {
					return err
				}
				for j := range 4 {
					if _, err := w.Write(data(uint64(i*10+j), 100<<10+i)); err != nil {
						return err
					}
				}
				return w.Commit(context.Background())
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent writer: %v", err)
		}
	}
	for i := range writers {
		var want []byte
		for j := range 4 {
			want = append(want, data(uint64(i*10+j), 100<<10+i)...)
		}
		checkContent(t, a, fmt.Sprintf("concurrent/%d", i), want)
	}
}

// testOpenFile: a driver that hands out local files (storage.FileOpener)
// opens the committed bytes at offset 0, never a pending write; a missing
// key is ErrNotFound and an invalid one ErrInvalidKey. Other drivers skip.
func (s *suite) testOpenFile(t *testing.T) {
	d := s.one(t)
	fo, ok := d.(storage.FileOpener)
	if !ok {
		t.Skip("driver does not implement storage.FileOpener")
	}
	want := data(31, MiB+7)
	put(t, d, "blobs/f", want)
	w, err := d.Writer(t.Context(), "blobs/f", 0) // pending, not committed
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []byte("pending bytes"))
	defer func() { _ = w.Cancel(t.Context()) }()
	f, err := fo.OpenFile(t.Context(), "blobs/f")
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("OpenFile read %d bytes (%v), want the %d committed", len(got), err, len(want))
	}
	for key, wantErr := range map[string]error{"blobs/missing": storage.ErrNotFound, "../x": storage.ErrInvalidKey, "blobs": storage.ErrNotFound} {
		if f, err := fo.OpenFile(t.Context(), key); !errors.Is(err, wantErr) {
			if f != nil {
				f.Close()
			}
			t.Errorf("OpenFile(%q) = %v, want %v", key, err, wantErr)
		}
	}
}

// testCommitAs: a Writer that can commit under another key
// (storage.KeyCommitter) makes its bytes visible there, replacing what
// was there, and leaves its own key as it was; the pending write is gone.
// An invalid key is refused and the write stays pending. Other drivers
// skip.
func (s *suite) testCommitAs(t *testing.T) {
	d := s.one(t)
	w, err := d.Writer(t.Context(), "uploads/u1", 0)
	if err != nil {
		t.Fatal(err)
	}
	kc, ok := w.(storage.KeyCommitter)
	if !ok {
		_ = w.Cancel(t.Context())
		t.Skip("writer does not implement storage.KeyCommitter")
	}
	put(t, d, "blobs/b", []byte("old"))
	want := data(32, MiB/2+3)
	write(t, w, want)
	if err := kc.CommitAs(t.Context(), "../b"); !errors.Is(err, storage.ErrInvalidKey) {
		t.Fatalf("CommitAs(invalid) = %v, want ErrInvalidKey", err)
	}
	if err := kc.CommitAs(t.Context(), "blobs/b"); err != nil {
		t.Fatalf("CommitAs: %v", err)
	}
	checkContent(t, d, "blobs/b", want)
	checkAbsent(t, d, "uploads/u1")
	if _, err := d.Writer(t.Context(), "uploads/u1", int64(len(want))); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("resume after CommitAs = %v, want ErrNotFound", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after CommitAs succeeded")
	}
}
