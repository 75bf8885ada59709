package restapi_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

func TestAuditLogEndpoints(t *testing.T) { forEachAcct(t, testAuditLogEndpoints) }

func testAuditLogEndpoints(t *testing.T, e *acctEnv) {
	p1 := e.project("p1", false)
	p10 := e.project("p10", false)
	guest, _ := e.user("guest", false, map[int64]access.Role{p1.ID: access.RoleGuest})
	limited, _ := e.user("limited", false, map[int64]access.Role{p1.ID: access.RoleLimitedGuest})
	outsider, _ := e.user("outsider", false, nil)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, a := range []meta.AuditLog{
		{Username: "dev", Operation: "push", ResourceType: "artifact", Resource: "p1/app:1", ProjectID: p1.ID, ClientIP: "192.0.2.1"},
		{Username: "guest", Operation: "pull", ResourceType: "artifact", Resource: "p1/app:1", ProjectID: p1.ID, ClientIP: "192.0.2.2"},
		{Username: "dev", Operation: "push", ResourceType: "artifact", Resource: "p10/app:1", ProjectID: p10.ID, ClientIP: "192.0.2.1"},
		{Username: "mallory", Operation: "login", ResourceType: "user", Resource: "mallory", ClientIP: "198.51.100.7", Result: meta.AuditFailure},
		{Username: "admin", Operation: "create", ResourceType: "member", Resource: "p1/guest as guest", ProjectID: p1.ID, ClientIP: "192.0.2.3"},
	} {
		a.OpTime = t0.Add(time.Duration(i) * time.Minute)
		if err := e.store.Audit.AddAuditLog(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	e.run(t, []acctCase{
		{"all anonymous", acctAnon, "GET", "/audit-logs", nil, 401},
		{"project anonymous", acctAnon, "GET", "/projects/p1/logs", nil, 401},
		{"project outsider", outsider, "GET", "/projects/p1/logs", nil, 403},
		{"project limited guest", limited, "GET", "/projects/p1/logs", nil, 403},
		{"project missing", outsider, "GET", "/projects/nope/logs", nil, 403},
		{"bad q", acctAdmin, "GET", "/audit-logs?q=colour%3Dred", nil, 400},
		{"bad time", acctAdmin, "GET", "/audit-logs?q=op_time%3D%5Byesterday~%5D", nil, 400},
	})

	list := func(c acctCred, path string) []string {
		t.Helper()
		var logs []auditLogJSON
		e.decode(e.must(e.do(c, "GET", path, nil), 200), &logs)
		out := []string{}
		for _, l := range logs {
			out = append(out, l.Username+" "+l.Operation+" "+l.Resource)
		}
		return out
	}
	tests := []struct {
		name string
		cred acctCred
		path string
		want []string
	}{
		{"admin sees everything, newest first", acctAdmin, "/audit-logs", []string{
			"admin create p1/guest as guest", "mallory login mallory", "dev push p10/app:1", "guest pull p1/app:1", "dev push p1/app:1"}},
		{"a member sees its projects", guest, "/audit-logs", []string{
			"admin create p1/guest as guest", "guest pull p1/app:1", "dev push p1/app:1"}},
		{"a user without projects sees nothing", outsider, "/audit-logs", []string{}},
		{"project logs", guest, "/projects/p1/logs", []string{
			"admin create p1/guest as guest", "guest pull p1/app:1", "dev push p1/app:1"}},
		{"project logs of the admin", acctAdmin, "/projects/p10/logs", []string{"dev push p10/app:1"}},
		{"by operation", acctAdmin, "/audit-logs?q=operation%3Dpush", []string{"dev push p10/app:1", "dev push p1/app:1"}},
		{"by user and resource", acctAdmin, "/audit-logs?q=username%3Ddev%2Cresource%3D~p1%2Fapp", []string{"dev push p1/app:1"}},
		{"by time", acctAdmin, "/audit-logs?q=op_time%3D%5B2026-01-02%2003%3A05%3A00~2026-01-02T03%3A06%3A30Z%5D",
			[]string{"dev push p10/app:1", "guest pull p1/app:1"}},
		{"paged", acctAdmin, "/audit-logs?page=2&page_size=2", []string{"dev push p10/app:1", "guest pull p1/app:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, list(tt.cred, tt.path)); d != "" {
				t.Errorf("GET %s (-want +got):\n%s", tt.path, d)
			}
		})
	}

	r := e.must(e.do(acctAdmin, "GET", "/audit-logs?page_size=1&q=username%3Dmallory", nil), 200)
	var logs []auditLogJSON
	e.decode(r, &logs)
	want := auditLogJSON{ID: logs[0].ID, Username: "mallory", Resource: "mallory", ResourceType: "user", Operation: "login",
		OpTime: t0.Add(3 * time.Minute), OperationResult: false, ClientIP: "198.51.100.7"}
	if d := cmp.Diff([]auditLogJSON{want}, logs); d != "" || r.header.Get("X-Total-Count") != "1" {
		t.Errorf("failed login entry (-want +got):\n%s", d)
	}
}

// TestProjectLogsByID (issue 15, finding 4): a project's log holds the
// entries stored with its id, never those whose resource merely starts
// with its name: a project named admin does not show the admin's logins,
// one named like a user does not show that user's events, and a project
// re-created under an old name does not show its predecessor's history.
func TestProjectLogsByID(t *testing.T) { forEachAcct(t, testProjectLogsByID) }

func testProjectLogsByID(t *testing.T, e *acctEnv) {
	list := func(path string) []string {
		t.Helper()
		var logs []auditLogJSON
		e.decode(e.must(e.do(acctAdmin, "GET", path, nil), 200), &logs)
		out := []string{}
		for _, l := range logs {
			out = append(out, l.Username+" "+l.Operation+" "+l.ResourceType+" "+l.Resource)
		}
		return out
	}
	// The admin's logins (one failed, one through Basic that fails) and a
	// project named admin.
	e.must(e.do(acctCred{"admin", "Wrong1234"}, "GET", "/users/current", nil), 401)
	e.must(e.do(acctAdmin, "POST", "/projects", map[string]any{"project_name": "admin"}), 201)
	// A user and a project both named carol; the user's events are no
	// project's.
	e.must(e.do(acctAdmin, "POST", "/projects", map[string]any{"project_name": "carol"}), 201)
	e.must(e.do(acctAdmin, "POST", "/users", map[string]string{"username": "carol", "password": "CarolPass1"}), 201)
	e.must(e.do(acctCred{"carol", "Wrong1234"}, "GET", "/users/current", nil), 401)
	// A project deleted and created again.
	e.must(e.do(acctAdmin, "POST", "/projects", map[string]any{"project_name": "again"}), 201)
	e.must(e.do(acctAdmin, "POST", "/projects/again/members", map[string]any{"role_id": 3, "member_user": map[string]any{"username": "carol"}}), 201)
	e.must(e.do(acctAdmin, "DELETE", "/projects/again", nil), 200)
	e.must(e.do(acctAdmin, "POST", "/projects", map[string]any{"project_name": "again"}), 201)
	// The server writes the audit log asynchronously, in order: wait for
	// the last entry.
	e.auditLogs(meta.AuditFilter{Operation: "create", ResourceType: "project", Resource: "again"}, 2)

	tests := []struct {
		path string
		want []string
	}{
		{"/projects/admin/logs", []string{"admin create project admin"}},
		{"/projects/carol/logs", []string{"admin create project carol"}},
		{"/projects/again/logs", []string{"admin create project again"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if d := cmp.Diff(tt.want, list(tt.path)); d != "" {
				t.Errorf("GET %s (-want +got):\n%s", tt.path, d)
			}
		})
	}
	// Everything is still in the system-wide log.
	all := list("/audit-logs?page_size=100")
	for _, want := range []string{"admin login user admin", "carol login user carol", "admin create user carol",
		"admin delete project again", "admin create member again/carol as guest"} {
		if !slices.Contains(all, want) {
			t.Errorf("GET /audit-logs has no %q: %q", want, all)
		}
	}
	// Each entry about a project carries its id and resource type.
	logs, _, err := e.store.Audit.ListAuditLogs(t.Context(), meta.AuditFilter{Resource: "again"}, meta.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if l.ProjectID == 0 || l.ResourceType == "" {
			t.Errorf("entry %+v: want a project id and a resource type", l)
		}
	}
}

// TestAuditLogExts: Harbor 2.13's /auditlog-exts shows every entry to
// system administrators and, to anyone else, only the entries of the
// projects they administer (never those where they are a mere member);
// the per-project list admits the callers /projects/{p}/logs admits; the
// event types list needs a login.
func TestAuditLogExts(t *testing.T) { forEachAcct(t, testAuditLogExts) }

func testAuditLogExts(t *testing.T, e *acctEnv) {
	p1 := e.project("x1", false)
	p2 := e.project("x2", false)
	owner, _ := e.user("owner", false, map[int64]access.Role{p1.ID: access.RoleProjectAdmin, p2.ID: access.RoleGuest})
	outsider, _ := e.user("stranger", false, nil)
	t0 := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	for i, a := range []meta.AuditLog{
		{Username: "dev", Operation: "push", ResourceType: "artifact", Resource: "x1/app:1", ProjectID: p1.ID},
		{Username: "dev", Operation: "push", ResourceType: "artifact", Resource: "x2/app:1", ProjectID: p2.ID},
		{Username: "mallory", Operation: "login", ResourceType: "user", Resource: "mallory", Result: meta.AuditFailure},
	} {
		a.OpTime = t0.Add(time.Duration(i) * time.Minute)
		if err := e.store.Audit.AddAuditLog(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	e.run(t, []acctCase{
		{"anonymous", acctAnon, "GET", "/auditlog-exts", nil, 401},
		{"events anonymous", acctAnon, "GET", "/auditlog-exts/events", nil, 401},
		{"events", outsider, "GET", "/auditlog-exts/events", nil, 200},
		{"project outsider", outsider, "GET", "/projects/x1/auditlog-exts", nil, 403},
		{"project missing", outsider, "GET", "/projects/nope/auditlog-exts", nil, 403},
		{"bad sort", acctAdmin, "GET", "/auditlog-exts?sort=username", nil, 400},
	})
	list := func(c acctCred, path string) []string {
		t.Helper()
		var logs []auditLogExtJSON
		e.decode(e.must(e.do(c, "GET", path, nil), 200), &logs)
		out := []string{}
		for _, l := range logs {
			if l.Username == "admin" { // the setup's own project and member changes
				continue
			}
			out = append(out, l.OperationDescription+" "+strconv.FormatBool(l.OperationResult)+" "+l.OpTime)
		}
		return out
	}
	tests := []struct {
		name string
		cred acctCred
		path string
		want []string
	}{
		{"admin sees everything", acctAdmin, "/auditlog-exts?sort=-op_time", []string{
			"login user mallory (failed) false 2026-02-03T04:07:06Z", "push artifact x2/app:1 true 2026-02-03T04:06:06Z",
			"push artifact x1/app:1 true 2026-02-03T04:05:06Z"}},
		{"a project admin sees its project only", owner, "/auditlog-exts", []string{"push artifact x1/app:1 true 2026-02-03T04:05:06Z"}},
		{"a user without admin roles sees nothing", outsider, "/auditlog-exts", []string{}},
		{"one project, a guest", owner, "/projects/x2/auditlog-exts", []string{"push artifact x2/app:1 true 2026-02-03T04:06:06Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, list(tt.cred, tt.path)); d != "" {
				t.Errorf("GET %s (-want +got):\n%s", tt.path, d)
			}
		})
	}
}
