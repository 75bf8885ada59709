package webui_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// TestLabelsPage: system administrators list, create and delete system
// labels; a taken name and a bad color are refused; no one else reaches
// the page.
func TestLabelsPage(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", adminPassword)
	if r := admin.get("/admin/labels"); r.status != 200 || !strings.Contains(r.body, "No system label yet.") {
		t.Fatalf("empty page: %d", r.status)
	}
	if r := admin.post("/admin/labels", url.Values{"name": {"prod"}, "color": {"#0a7ea4"}, "description": {"shipped"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := admin.post("/admin/labels", url.Values{"name": {"prod"}}, true); r.status != http.StatusConflict || !strings.Contains(r.body, "exists") {
		t.Errorf("taken name: %d", r.status)
	}
	if r := admin.post("/admin/labels", url.Values{"name": {"x"}, "color": {"red; background:url(x)"}}, true); r.status != http.StatusBadRequest {
		t.Errorf("bad color: %d", r.status)
	}
	page := admin.get("/admin/labels").body
	if !strings.Contains(page, `id="labels"`) || !strings.Contains(page, "prod") || !strings.Contains(page, "#0a7ea4") {
		t.Error("the label is not listed")
	}
	ls, _, err := e.store.Labels.ListLabels(t.Context(), meta.LabelQuery{}, meta.Page{Limit: 10})
	if err != nil || len(ls) != 1 || ls[0].Description != "shipped" {
		t.Fatalf("stored: %+v %v", ls, err)
	}
	e.addUser("bob")
	bob := e.login("bob", userPassword)
	if r := bob.get("/admin/labels"); r.status != http.StatusForbidden {
		t.Errorf("a user opens the labels page: %d", r.status)
	}
	id := strconv.FormatInt(ls[0].ID, 10)
	if r := bob.post("/admin/labels/"+id+"/delete", nil, true); r.status != http.StatusForbidden {
		t.Errorf("a user deletes a label: %d", r.status)
	}
	if r := admin.post("/admin/labels/"+id+"/delete", nil, true); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	if r := admin.post("/admin/labels/"+id+"/delete", nil, true); r.status != http.StatusNotFound {
		t.Errorf("delete again: %d", r.status)
	}
}
