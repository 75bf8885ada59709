package audit_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestRecorders: both recorders store what they are given, look the
// project's id up by name when asked, and leave it 0 for a project that
// does not exist; Close writes what is queued.
func TestRecorders(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		name string
		open func(*meta.Store) (audit.Recorder, func())
	}{
		{"writer", func(s *meta.Store) (audit.Recorder, func()) {
			w := audit.NewWriter(audit.Stores{Log: s.Audit, Projects: s.Projects}, log)
			return w, w.Close
		}},
		{"direct", func(s *meta.Store) (audit.Recorder, func()) {
			return audit.NewDirect(audit.Stores{Log: s.Audit, Projects: s.Projects}, log), func() {}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := metatest.OpenSQLite(t)
			p, err := s.Projects.CreateProject(t.Context(), meta.Project{Name: "team"})
			if err != nil {
				t.Fatal(err)
			}
			rec, closeFn := tt.open(s)
			rec.Record(meta.AuditLog{Username: "alice", Operation: "login", ResourceType: "user", Resource: "alice"})
			rec.RecordInProject(meta.AuditLog{Username: "alice", Operation: "push", ResourceType: "artifact", Resource: "team/app:1"}, "team")
			rec.RecordInProject(meta.AuditLog{Username: "alice", Operation: "pull", ResourceType: "artifact", Resource: "gone/app:1"}, "gone")
			rec.Record(meta.AuditLog{Username: "admin", Operation: "create", ResourceType: "member", Resource: "team/bob", ProjectID: p.ID})
			closeFn()
			logs, _, err := s.Audit.ListAuditLogs(t.Context(), meta.AuditFilter{}, meta.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, l := range logs {
				got[l.Operation+" "+l.Resource] = l.ProjectID
			}
			want := map[string]int64{"login alice": 0, "push team/app:1": p.ID, "pull gone/app:1": 0, "create team/bob": p.ID}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("entries and project ids (-want +got):\n%s", d)
			}
		})
	}
}

// TestWriterBatches: a burst larger than one batch is written whole, each
// entry with its project's id (looked up once per batch).
func TestWriterBatches(t *testing.T) {
	s := metatest.OpenSQLite(t)
	p, err := s.Projects.CreateProject(t.Context(), meta.Project{Name: "team"})
	if err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(audit.Stores{Log: s.Audit, Projects: s.Projects}, slog.New(slog.DiscardHandler))
	const n = 1000
	for i := range n {
		w.RecordInProject(meta.AuditLog{Username: "ci", Operation: "pull", ResourceType: "artifact", Resource: fmt.Sprintf("team/app:%d", i)}, "team")
	}
	w.Close()
	logs, total, err := s.Audit.ListAuditLogs(t.Context(), meta.AuditFilter{Operation: "pull"}, meta.Page{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	if total != n || len(logs) != n {
		t.Fatalf("%d entries (%d listed), want %d", total, len(logs), n)
	}
	seen := map[string]bool{}
	for _, l := range logs {
		if l.ProjectID != p.ID {
			t.Fatalf("%s: project %d, want %d", l.Resource, l.ProjectID, p.ID)
		}
		seen[l.Resource] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct entries, want %d", len(seen), n)
	}
}
