package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// fakePolicies pages a fixed list of webhook policies (the real store is
// exercised by restapi's TestEventOutbox).
type fakePolicies struct {
	ps  []meta.WebhookPolicy
	err error
}

func (f fakePolicies) AllWebhookPolicies(_ context.Context, after int64, limit int) ([]meta.WebhookPolicy, error) {
	var out []meta.WebhookPolicy
	for _, p := range f.ps {
		if p.ID > after && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, f.err
}

func TestPullWatch(t *testing.T) {
	many := make([]meta.WebhookPolicy, 1200) // three pages, the wanted one last
	for i := range many {
		many[i] = meta.WebhookPolicy{ID: int64(i + 1), Enabled: true, EventTypes: []string{"PUSH_ARTIFACT"}}
	}
	many[len(many)-1].EventTypes = []string{"PULL_ARTIFACT"}
	tests := []struct {
		name  string
		store fakePolicies
		want  bool
	}{
		{"no policy", fakePolicies{}, false},
		{"push only", fakePolicies{ps: []meta.WebhookPolicy{{ID: 1, Enabled: true, EventTypes: []string{"PUSH_ARTIFACT"}}}}, false},
		{"pull disabled", fakePolicies{ps: []meta.WebhookPolicy{{ID: 1, EventTypes: []string{"PULL_ARTIFACT"}}}}, false},
		{"pull enabled", fakePolicies{ps: []meta.WebhookPolicy{{ID: 1, Enabled: true, EventTypes: []string{"PUSH_ARTIFACT", "PULL_ARTIFACT"}}}}, true},
		{"on a later page", fakePolicies{ps: many}, true},
		{"store down", fakePolicies{err: errors.New("down")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPullWatch(tt.store, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if !w.want() {
				t.Fatal("before its first refresh the watch must say yes")
			}
			w.refresh(t.Context())
			if got := w.want(); got != tt.want {
				t.Errorf("want() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPullWatchAfterChange: a change through this replica makes the watch
// say yes (and ask for a refresh) until it has re-read the policies.
func TestPullWatchAfterChange(t *testing.T) {
	var gen uint64
	w := newPullWatch(fakePolicies{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.changes = func() uint64 { return gen }
	w.refresh(t.Context())
	if w.want() {
		t.Fatal("no policy: want() = true")
	}
	gen++
	if !w.want() {
		t.Error("after a change: want() = false before the refresh")
	}
	select {
	case <-w.kick:
	default:
		t.Error("after a change: no refresh asked for")
	}
	w.refresh(t.Context())
	if w.want() {
		t.Error("after the refresh: want() = true")
	}
}
