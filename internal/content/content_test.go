package content

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/filesystem"
)

func newService(t *testing.T, store *meta.Store, root string) *Service {
	t.Helper()
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return New(Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, slog.New(slog.DiscardHandler))
}

func readBlob(t *testing.T, s *Service, repo string, d digest.Digest) []byte {
	t.Helper()
	b, err := s.Stat(t.Context(), repo, d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(t.Context(), b, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestResumeOnAnotherInstance continues a session on a second Service (a
// restarted server, or another replica) sharing only the database and storage.
func TestResumeOnAnotherInstance(t *testing.T) {
	store := metatest.OpenSQLite(t)
	root := t.TempDir()
	a, b := newService(t, store, root), newService(t, store, root)
	ctx := t.Context()
	data := bytes.Repeat([]byte("berth"), 5000)

	u, err := a.StartUpload(ctx, "r", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendUpload(ctx, "r", u.ID, Chunk{Start: 0, Length: 10000, Body: bytes.NewReader(data[:10000])}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Upload(ctx, "r", u.ID)
	if err != nil || got.Offset != 10000 {
		t.Fatalf("Upload on b: %+v, %v", got, err)
	}
	if _, err := b.AppendUpload(ctx, "r", u.ID, Chunk{Start: 10000, Length: 5000, Body: bytes.NewReader(data[10000:15000])}); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	blob, _, err := a.FinishUpload(ctx, "r", u.ID, d, Chunk{Start: 15000, Length: int64(len(data) - 15000), Body: bytes.NewReader(data[15000:])})
	if err != nil {
		t.Fatal(err)
	}
	if blob.Size != int64(len(data)) || blob.StorageKey != blobKey(d) {
		t.Fatalf("blob = %+v", blob)
	}
	if !bytes.Equal(readBlob(t, b, "r", d), data) {
		t.Fatal("content differs")
	}
}

// TestInterruptedChunk: a chunk cut short leaves the session where it was;
// the client resumes from the reported offset.
func TestInterruptedChunk(t *testing.T) {
	store := metatest.OpenSQLite(t)
	s := newService(t, store, t.TempDir())
	ctx := t.Context()
	u, err := s.StartUpload(ctx, "r", "tester")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendUpload(ctx, "r", u.ID, Chunk{Start: 0, Length: 100, Body: io.MultiReader(strings.NewReader("partial"), errReader{})})
	if err == nil {
		t.Fatal("interrupted chunk accepted")
	}
	got, err := s.Upload(ctx, "r", u.ID)
	if err != nil || got.Offset != 0 {
		t.Fatalf("after interrupted chunk: %+v, %v", got, err)
	}
	_, err = s.AppendUpload(ctx, "r", u.ID, Chunk{Start: 0, Length: 4, Body: strings.NewReader("abc")})
	if !errors.Is(err, ErrSizeInvalid) {
		t.Fatalf("short chunk: %v, want ErrSizeInvalid", err)
	}
	if _, err := s.AppendUpload(ctx, "r", u.ID, Chunk{Start: 0, Length: 3, Body: strings.NewReader("abc")}); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("abc")
	if _, _, err := s.FinishUpload(ctx, "r", u.ID, d, Chunk{Start: -1, Length: 0, Body: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, s, "r", d); string(got) != "abc" {
		t.Fatalf("content = %q", got)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestDuplicateBlobKeepsOneCopy(t *testing.T) {
	store := metatest.OpenSQLite(t)
	root := t.TempDir()
	s := newService(t, store, root)
	ctx := t.Context()
	d := digest.FromString("same")
	for _, repo := range []string{"a", "b"} {
		if _, err := s.PutBlob(ctx, repo, d, strings.NewReader("same"), 4); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	if err := s.drv.Walk(ctx, "", func(i storage.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != blobKey(d) {
		t.Fatalf("stored keys = %v, want only %s", keys, blobKey(d))
	}
}

func TestExpireUploads(t *testing.T) {
	store := metatest.OpenSQLite(t)
	s := newService(t, store, t.TempDir())
	ctx := t.Context()
	u, err := s.StartUpload(ctx, "r", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, "r", u.ID, Chunk{Start: -1, Length: -1, Body: strings.NewReader("data")}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireUploads(ctx, time.Hour, 10); err != nil || n != 0 {
		t.Fatalf("fresh session expired: %d, %v", n, err)
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if n, err := s.ExpireUploads(ctx, time.Hour, 10); err != nil || n != 1 {
		t.Fatalf("ExpireUploads = %d, %v; want 1", n, err)
	}
	if _, err := s.Upload(ctx, "r", u.ID); !errors.Is(err, meta.ErrUploadNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if _, err := s.drv.Writer(ctx, u.StorageKey, 4); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired session data still resumable: %v", err)
	}
}
