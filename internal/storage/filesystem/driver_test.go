package filesystem_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/storage/storagetest"
)

func mustNew(t *testing.T, root string) *filesystem.Driver {
	t.Helper()
	d, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (a, b storage.Driver) {
		root := t.TempDir()
		return mustNew(t, root), mustNew(t, root)
	})
}

func TestLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "new", "root")
	d := mustNew(t, root)
	w, err := d.Writer(t.Context(), "a/b/c", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a pending write created its key's directory: %v", err)
	}
	pending, err := os.ReadDir(filepath.Join(root, ".pending"))
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending area holds %v, %v; want one file", pending, err)
	}
	w, err = d.Writer(t.Context(), "a/b/c", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "a", "b", "c"))
	if err != nil || string(b) != "abc" {
		t.Fatalf("committed file = %q, %v", b, err)
	}
	if err := d.Move(t.Context(), "a/b/c", "x"); err != nil {
		t.Fatal(err)
	}
	// Move and Delete remove emptied directories, never the root.
	if _, err := os.Stat(filepath.Join(root, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("emptied directory a left behind: %v", err)
	}
	if err := d.Delete(t.Context(), "x"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("root removed: %v", err)
	}
	if len(entries) != 1 || entries[0].Name() != ".pending" {
		t.Fatalf("root holds %v, want only .pending", entries)
	}
	// The pending area is reserved.
	if _, err := d.Stat(t.Context(), ".pending/x"); !errors.Is(err, storage.ErrInvalidKey) {
		t.Fatalf("Stat(.pending/x) err = %v, want ErrInvalidKey", err)
	}
}
