package meta_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestCountOpenUploads(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		for i, u := range []struct{ repo, account string }{{"a/b", "ann"}, {"a/b", "bob"}, {"a/c", "ann"}} {
			id := "u" + string(rune('0'+i))
			if err := s.Uploads.CreateUpload(ctx, meta.Upload{ID: id, Repository: u.repo, Account: u.account, StorageKey: id, Algorithm: "sha256"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			repo, account    string
			inRepo, byAcount int
		}{{"a/b", "ann", 2, 2}, {"a/c", "bob", 1, 1}, {"x", "nobody", 0, 0}} {
			r, a, err := s.Uploads.CountOpenUploads(ctx, tt.repo, tt.account)
			if err != nil || r != tt.inRepo || a != tt.byAcount {
				t.Errorf("CountOpenUploads(%s, %s) = %d, %d, %v; want %d, %d", tt.repo, tt.account, r, a, err, tt.inRepo, tt.byAcount)
			}
		}
	})
}
