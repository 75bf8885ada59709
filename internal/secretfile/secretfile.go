// Package secretfile writes small secrets (passwords, keys) to disk the
// one safe way: a temp file created with mode 0600 in the target's
// directory, written and fsynced, then moved into place, so that a reader
// never sees a partial or world-readable file.
package secretfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write stores data at path with mode 0600, creating parent directories.
// With exclusive set it fails (with an error wrapping fs.ErrExist) when
// path already exists, so that of several processes racing to create a
// secret exactly one wins; otherwise it replaces path atomically.
func Write(path string, data []byte, exclusive bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after a rename; drops the link otherwise
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("secret file %s: %w", path, err)
	}
	if exclusive {
		err = os.Link(f.Name(), path) // fails with EEXIST if path exists
	} else {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	return nil
}
