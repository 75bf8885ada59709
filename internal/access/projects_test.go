package access

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

type countingFinder struct {
	projects map[string]meta.Project
	calls    int
}

func (f *countingFinder) GetProjectByName(_ context.Context, name string) (meta.Project, error) {
	f.calls++
	p, ok := f.projects[name]
	if !ok {
		return meta.Project{}, meta.ErrProjectNotFound
	}
	return p, nil
}

func TestCheckerProjectCache(t *testing.T) {
	ctx := t.Context()
	f := &countingFinder{projects: map[string]meta.Project{"lib": {ID: 1, Name: "lib", Public: true}}}
	var gen atomic.Uint64
	c := NewChecker(f).WithCache(time.Minute, gen.Load)
	look := func(repo string, wantCalls int, wantPublic bool) {
		t.Helper()
		p, err := c.Project(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		if f.calls != wantCalls || p.Public != wantPublic {
			t.Errorf("%s: %d queries, public %v; want %d, %v", repo, f.calls, p.Public, wantCalls, wantPublic)
		}
	}
	look("lib/a", 1, true)
	look("lib/b", 1, true) // same project, cached
	f.projects["lib"] = meta.Project{ID: 1, Name: "lib", Public: false}
	gen.Add(1) // the change is announced
	look("lib/a", 2, false)

	// A missing project is asked again each time (it may be created).
	for i := range 2 {
		if _, err := c.Project(ctx, "new/x"); !errors.Is(err, meta.ErrProjectNotFound) {
			t.Fatalf("missing project: %v", err)
		}
		if f.calls != 3+i {
			t.Errorf("missing project lookup %d: %d queries", i, f.calls)
		}
	}
}
