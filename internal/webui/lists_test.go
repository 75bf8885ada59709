package webui_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestListsPagedOnServer: a list longer than a page is cut on the server,
// with links to the neighbour pages that keep the search.
func TestListsPagedOnServer(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		e.addProject(fmt.Sprintf("team%02d", i), false)
	}
	admin := e.login("admin", adminPassword)
	first := admin.get("/projects?q=team")
	if n := strings.Count(first.body, `<a href="/projects/team`); n != 25 {
		t.Errorf("first page lists %d projects, want 25", n)
	}
	if !strings.Contains(first.body, `href="/projects?q=team&amp;page=2" rel="next"`) || !strings.Contains(first.body, "Page 1 of 2") ||
		!strings.Contains(first.body, "30 in all") {
		t.Errorf("first page lacks its paging: %s", first.body[strings.Index(first.body, "<main"):])
	}
	second := admin.get("/projects?q=team&page=2")
	if n := strings.Count(second.body, `<a href="/projects/team`); n != 5 || !strings.Contains(second.body, `rel="prev"`) ||
		strings.Contains(second.body, `rel="next"`) {
		t.Errorf("second page lists %d projects", n)
	}
	if n := strings.Count(admin.get("/projects?q=team&page_size=10").body, `<a href="/projects/team`); n != 10 {
		t.Errorf("page_size=10 lists %d", n)
	}
	if n := strings.Count(admin.get("/projects?q=team&page_size=100000").body, `<a href="/projects/team`); n != 30 {
		t.Errorf("a huge page_size lists %d (capped at 100)", n)
	}
}
