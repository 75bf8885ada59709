package meta_test

import (
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// TestAuditLogsOfProjects: AuditFilter.ProjectIDs keeps the entries
// stored with those project ids, whatever their resource says: an entry
// about no project (id 0) never matches, nor does one of another project
// whose name the resource happens to start with (issue 15, finding 4).
func TestAuditLogsOfProjects(t *testing.T) {
	metatest.ForEachEngine(t, func(t *testing.T, s *meta.Store) {
		ctx := t.Context()
		for _, e := range []struct {
			res string
			id  int64
		}{
			{"private", 7}, {"private/app:1", 7}, {"private/alice", 7}, {"private/app:2", 9}, // 9: a re-created "private"
			{"library/app:1", 1}, {"private", 0}, {"alice", 0},
		} {
			check(t, s.Audit.AddAuditLog(ctx, meta.AuditLog{Username: "u", Operation: "push", ResourceType: "artifact", Resource: e.res, ProjectID: e.id}))
		}
		tests := []struct {
			name string
			ids  []int64
			want []string
		}{
			{"one project", []int64{7}, []string{"private", "private/alice", "private/app:1"}},
			{"the re-created one", []int64{9}, []string{"private/app:2"}},
			{"two projects", []int64{7, 1}, []string{"library/app:1", "private", "private/alice", "private/app:1"}},
			{"no project id matches nothing", []int64{0}, nil},
			{"none", []int64{}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ls, total, err := s.Audit.ListAuditLogs(ctx, meta.AuditFilter{ProjectIDs: tt.ids}, meta.Page{Limit: 100})
				check(t, err)
				got := []string{}
				for _, l := range ls {
					got = append(got, l.Resource)
					if !slices.Contains(tt.ids, l.ProjectID) {
						t.Errorf("entry %s has project id %d", l.Resource, l.ProjectID)
					}
				}
				diff(t, "resources", tt.want, slices.Sorted(slices.Values(got)))
				if total != len(tt.want) {
					t.Errorf("total = %d, want %d", total, len(tt.want))
				}
			})
		}
	})
}
