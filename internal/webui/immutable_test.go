package webui_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
)

// TestImmutabilityTab: maintainers add, disable and delete immutability
// rules on the project's tab; a rule the tab adds protects tags in the
// registry; developers see no tab and cannot post to it.
func TestImmutabilityTab(t *testing.T) {
	e := newEnv(t)
	p := e.addProject("team", false)
	maint, dev := e.addUser("maint"), e.addUser("dev")
	e.addMember(p, maint, access.RoleMaintainer)
	e.addMember(p, dev, access.RoleDeveloper)
	e.pushImage("team/app", "a", nil, "release-1")

	m := e.login("maint", userPassword)
	page := m.get("/projects/team")
	if !strings.Contains(page.body, `id="tab-immutability"`) {
		t.Fatal("a maintainer has no immutability tab")
	}
	if r := m.get("/projects/team/immutability"); r.status != 200 || !strings.Contains(r.body, "No immutability rule") {
		t.Fatalf("empty tab: %d", r.status)
	}
	bad := m.post("/projects/team/immutability", url.Values{"tag_decoration": {"matches"}, "tag_pattern": {"{a"}, "repo_decoration": {"repoMatches"}}, true)
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "This rule is not valid.") {
		t.Errorf("bad pattern: %d", bad.status)
	}
	r := m.post("/projects/team/immutability", url.Values{"tag_decoration": {"matches"}, "tag_pattern": {"release-*"},
		"repo_decoration": {"repoMatches"}, "repo_pattern": {""}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("add rule: %d %s", r.status, r.body)
	}
	list := m.get("/projects/team/immutability").body
	if !strings.Contains(list, `id="immutable-rules"`) || !strings.Contains(list, "release-*") || !strings.Contains(list, "**") {
		t.Errorf("the rule is not listed")
	}
	// The registry now refuses to delete the tag.
	if err := e.reg.DeleteManifest(t.Context(), "team/app", "release-1"); !strings.Contains(errString(err), "immutable") {
		t.Errorf("delete a protected tag: %v, want refused", err)
	}

	stored, _, err := e.store.Immutable.ListImmutableRules(t.Context(), p.ID, metaPage())
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored rules: %v %v", stored, err)
	}
	rule, err := immutable.FromStored(stored[0])
	if err != nil {
		t.Fatal(err)
	}
	id := itoa(rule.ID)
	if r := m.post("/projects/team/immutability/"+id+"/disable", nil, true); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.status)
	}
	if got, _ := e.store.Immutable.GetImmutableRule(t.Context(), p.ID, rule.ID); !got.Disabled {
		t.Error("not disabled")
	}

	d := e.login("dev", userPassword)
	if strings.Contains(d.get("/projects/team").body, `id="tab-immutability"`) {
		t.Error("a developer sees the immutability tab")
	}
	if r := d.post("/projects/team/immutability/"+id+"/delete", nil, true); r.status != http.StatusForbidden {
		t.Errorf("a developer deletes a rule: %d", r.status)
	}
	if r := m.post("/projects/team/immutability/"+id+"/delete", nil, true); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	if r := m.post("/projects/team/immutability/"+id+"/delete", nil, true); r.status != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", r.status)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func metaPage() meta.Page { return meta.Page{Limit: 20} }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
