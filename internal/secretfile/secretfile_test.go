package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "secret")
	tests := []struct {
		name      string
		data      string
		exclusive bool
		wantErr   error
		want      string
	}{
		{"create", "one", true, nil, "one"},
		{"exclusive refuses an existing file", "two", true, fs.ErrExist, "one"},
		{"replace", "three", false, nil, "three"},
	}
	for _, tt := range tests {
		err := Write(p, []byte(tt.data), tt.exclusive)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
		got, rerr := os.ReadFile(p)
		if rerr != nil || string(got) != tt.want {
			t.Fatalf("%s: file holds %q (%v), want %q", tt.name, got, rerr, tt.want)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, want 0600", tt.name, st.Mode().Perm())
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "sub", ".tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temp files left behind: %v", left)
	}
}
