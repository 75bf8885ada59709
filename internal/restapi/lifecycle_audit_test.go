package restapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// TestLifecycleChangesAudited: label create, update, delete, attach and
// detach, and tag immutability rule create, update and delete are written
// to the audit log like other changes: who, what, under which project.
// (Retention policy changes: TestRetentionDryRunThenRun.)
func TestLifecycleChangesAudited(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.createProject("aud", false)
		pid := e.projectID("aud")
		img := e.pushImage("aud/app", "v1", "a")
		sys := e.createLabel(admin, map[string]any{"name": "sys-l", "scope": "g"})
		prj := e.createLabel(admin, map[string]any{"name": "prj-l", "scope": "p", "project_id": pid})
		e.must(e.do(admin, http.MethodPut, fmt.Sprintf("labels/%d", prj), map[string]any{"name": "prj-l2"}), http.StatusOK)
		art := "projects/aud/repositories/app/artifacts/" + img.manifest.String() + "/labels"
		e.must(e.do(admin, http.MethodPost, art, map[string]any{"id": sys}), http.StatusOK)
		e.must(e.do(admin, http.MethodDelete, fmt.Sprintf("%s/%d", art, sys), nil), http.StatusOK)
		e.must(e.do(admin, http.MethodDelete, fmt.Sprintf("labels/%d", sys), nil), http.StatusOK)
		loc := e.addRule(admin, "aud", releaseRule)
		e.must(e.do(admin, http.MethodPut, loc, map[string]any{"disabled": true}), http.StatusOK)
		e.must(e.do(admin, http.MethodDelete, loc, nil), http.StatusOK)
		rule := strings.TrimPrefix(loc, "/api/v2.0/projects/")

		want := []string{
			"0 create label sys-l",
			"0 delete label sys-l",
			fmt.Sprintf("%d create artifact-label aud/app@%s label sys-l", pid, img.manifest),
			fmt.Sprintf("%d create immutable_tag_rule %s", pid, rule),
			fmt.Sprintf("%d create label aud/prj-l", pid),
			fmt.Sprintf("%d delete artifact-label aud/app@%s label %d", pid, img.manifest, sys),
			fmt.Sprintf("%d delete immutable_tag_rule %s", pid, rule),
			fmt.Sprintf("%d update immutable_tag_rule %s", pid, rule),
			fmt.Sprintf("%d update label aud/prj-l2", pid),
		}
		var got []string
		for _, typ := range []string{"label", "artifact-label", "immutable_tag_rule"} {
			for _, l := range e.auditLogs(meta.AuditFilter{ResourceType: typ, Username: "admin"}, map[string]int{"label": 4, "artifact-label": 2, "immutable_tag_rule": 3}[typ]) {
				got = append(got, fmt.Sprintf("%d %s %s %s", l.ProjectID, l.Operation, l.ResourceType, l.Resource))
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("audit entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
