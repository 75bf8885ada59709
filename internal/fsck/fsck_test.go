package fsck_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/fsck"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/storage/filesystem"
)

func TestRun(t *testing.T) {
	store := metatest.OpenSQLite(t)
	root := t.TempDir()
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	svc := content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	push := func(s string) digest.Digest {
		d := digest.FromString(s)
		if _, err := svc.PutBlob(ctx, "r", d, strings.NewReader(s), int64(len(s))); err != nil {
			t.Fatal(err)
		}
		return d
	}
	path := func(d digest.Digest) string {
		return filepath.Join(root, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
	}
	good := push("good blob")
	_ = good
	missing := push("will go missing")
	short := push("will be truncated")
	flipped := push("will be flipped")
	// A session in progress is not an orphan.
	u, err := svc.StartUpload(ctx, "r", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AppendUpload(ctx, "r", u.ID, content.Chunk{Start: 0, Length: 3, Body: strings.NewReader("abc")}); err != nil {
		t.Fatal(err)
	}

	clean, err := fsck.Run(ctx, fsck.Stores{Blobs: store.Blobs, Uploads: store.Uploads}, drv, fsck.Options{Rehash: true, Orphans: true})
	if err != nil {
		t.Fatal(err)
	}
	if !clean.OK() || len(clean.Problems) != 0 || clean.Blobs != 4 {
		t.Fatalf("clean store: %+v", clean)
	}

	if err := os.Remove(path(missing)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path(short), 3); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path(flipped), bytes.ToUpper([]byte("will be flipped")), 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := digest.FromString("orphan")
	if err := os.MkdirAll(filepath.Dir(path(orphan)), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path(orphan), []byte("orphan"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		opts fsck.Options
		want map[string]int
	}{
		{"stat only", fsck.Options{}, map[string]int{fsck.Missing: 1, fsck.SizeMismatch: 1}},
		{"rehash", fsck.Options{Rehash: true}, map[string]int{fsck.Missing: 1, fsck.SizeMismatch: 1, fsck.DigestMismatch: 1}},
		{"orphans", fsck.Options{Orphans: true}, map[string]int{fsck.Missing: 1, fsck.SizeMismatch: 1, fsck.Orphan: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := fsck.Run(ctx, fsck.Stores{Blobs: store.Blobs, Uploads: store.Uploads}, drv, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, r.Count); diff != "" {
				t.Fatalf("counts (-want +got):\n%s", diff)
			}
			if r.OK() {
				t.Fatal("OK() with problems")
			}
		})
	}
}
