package meta_test

import (
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestAuditLogsOfProjects: AuditFilter.Projects keeps the entries about
// those projects only, never those of a project whose name merely
// contains or extends theirs.
func TestAuditLogsOfProjects(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		for _, res := range []string{
			"private", "private/app:1", "private/alice", "myprivate/app:1", "privateer/app:1", "other/private/app:1",
			"library/app:1", "alice",
		} {
			check(t, s.Audit.AddAuditLog(ctx, meta.AuditLog{Username: "u", Operation: "push", ResourceType: "artifact", Resource: res}))
		}
		tests := []struct {
			name     string
			projects []string
			want     []string
		}{
			{"one project", []string{"private"}, []string{"private", "private/alice", "private/app:1"}},
			{"two projects", []string{"private", "library"}, []string{"library/app:1", "private", "private/alice", "private/app:1"}},
			{"none", []string{}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ls, total, err := s.Audit.ListAuditLogs(ctx, meta.AuditFilter{Projects: tt.projects}, meta.Page{Limit: 100})
				check(t, err)
				got := []string{}
				for _, l := range ls {
					got = append(got, l.Resource)
				}
				diff(t, "resources", tt.want, slices.Sorted(slices.Values(got)))
				if total != len(tt.want) {
					t.Errorf("total = %d, want %d", total, len(tt.want))
				}
			})
		}
	})
}
