package restapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
)

type labelJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Color       string `json:"color"`
	Scope       string `json:"scope"`
	ProjectID   int64  `json:"project_id"`
}

// createLabel creates a label as c and returns its id (from Location).
func (e *env) createLabel(c cred, body map[string]any) int64 {
	e.t.Helper()
	r := e.must(e.do(c, http.MethodPost, "labels", body), http.StatusCreated)
	loc := r.header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil || !strings.HasPrefix(loc, "/api/v2.0/labels/") {
		e.t.Fatalf("Location = %q", loc)
	}
	return id
}

func labelNames(t *testing.T, r result) []string {
	t.Helper()
	out := []string{}
	for _, l := range decode[[]labelJSON](t, r) {
		out = append(out, l.Name)
	}
	return out
}

// TestLabels: /labels with Harbor's scopes and permissions (system labels
// by system administrators, project labels by the project's admins and
// maintainers), unique names per scope, filters and paging, no existence
// oracle for another project's labels.
func TestLabels(t *testing.T) { forEachEnv(t, testLabels) }

func testLabels(t *testing.T, e *env) {
	e.createProject("one", false)
	e.createProject("two", false)
	one, err := e.store().Projects.GetProjectByName(t.Context(), "one")
	if err != nil {
		t.Fatal(err)
	}
	two, err := e.store().Projects.GetProjectByName(t.Context(), "two")
	if err != nil {
		t.Fatal(err)
	}
	maint, maintID := e.addUser("maint", false)
	dev, devID := e.addUser("dev", false)
	guest, guestID := e.addUser("guest", false)
	outsider, _ := e.addUser("outsider", false)
	e.addMember("one", maintID, access.RoleMaintainer)
	e.addMember("one", devID, access.RoleDeveloper)
	e.addMember("one", guestID, access.RoleGuest)

	prod := e.createLabel(admin, map[string]any{"name": "prod", "color": "#00FF00", "description": "shipped", "scope": "g"})
	qa := e.createLabel(maint, map[string]any{"name": "qa", "scope": "p", "project_id": one.ID})
	e.createLabel(admin, map[string]any{"name": "qa", "scope": "p", "project_id": two.ID}) // same name, other project
	e.createLabel(admin, map[string]any{"name": "qa", "scope": "g"})                       // same name, system-wide
	secret := e.createLabel(admin, map[string]any{"name": "secret", "scope": "p", "project_id": two.ID})

	for _, tc := range []struct {
		name   string
		c      cred
		body   map[string]any
		status int
	}{
		{"a system label needs a system administrator", maint, map[string]any{"name": "x", "scope": "g"}, 403},
		{"anonymous", anonymous, map[string]any{"name": "x", "scope": "g"}, 401},
		{"a developer may not create project labels", dev, map[string]any{"name": "x", "scope": "p", "project_id": one.ID}, 403},
		{"nor a guest", guest, map[string]any{"name": "x", "scope": "p", "project_id": one.ID}, 403},
		{"nor an outsider", outsider, map[string]any{"name": "x", "scope": "p", "project_id": one.ID}, 403},
		{"taken system name", admin, map[string]any{"name": "prod", "scope": "g"}, 409},
		{"taken project name", maint, map[string]any{"name": "qa", "scope": "p", "project_id": one.ID}, 409},
		{"no name", admin, map[string]any{"scope": "g"}, 400},
		{"bad scope", admin, map[string]any{"name": "x", "scope": "z"}, 400},
		{"project label without project", admin, map[string]any{"name": "x", "scope": "p"}, 400},
		{"long name", admin, map[string]any{"name": strings.Repeat("n", 129), "scope": "g"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.must(e.do(tc.c, http.MethodPost, "labels", tc.body), tc.status)
		})
	}

	for _, tc := range []struct {
		name   string
		c      cred
		query  string
		status int
		want   []string
		total  string
	}{
		{"system labels for any user", outsider, "", 200, []string{"prod", "qa"}, "2"},
		{"scope g", dev, "?scope=g&name=pro", 200, []string{"prod"}, "1"},
		{"project labels for a guest", guest, fmt.Sprintf("?scope=p&project_id=%d", one.ID), 200, []string{"qa"}, "1"},
		{"paging", admin, fmt.Sprintf("?scope=p&project_id=%d&page=2&page_size=1", two.ID), 200, []string{"secret"}, "2"},
		{"not for an outsider", outsider, fmt.Sprintf("?scope=p&project_id=%d", one.ID), 403, nil, ""},
		{"not for anonymous", anonymous, "", 401, nil, ""},
		{"scope p needs project_id", admin, "?scope=p", 400, nil, ""},
	} {
		t.Run("list "+tc.name, func(t *testing.T) {
			r := e.must(e.do(tc.c, http.MethodGet, "labels"+tc.query, nil), tc.status)
			if tc.status != 200 {
				return
			}
			if d := cmp.Diff(tc.want, labelNames(t, r)); d != "" {
				t.Errorf("names (-want +got):\n%s", d)
			}
			if got := r.header.Get("X-Total-Count"); got != tc.total {
				t.Errorf("X-Total-Count = %s, want %s", got, tc.total)
			}
		})
	}

	got := decode[labelJSON](t, e.must(e.do(guest, http.MethodGet, fmt.Sprintf("labels/%d", qa), nil), 200))
	if got.Name != "qa" || got.Scope != "p" || got.ProjectID != one.ID {
		t.Errorf("GET qa = %+v", got)
	}
	g := decode[labelJSON](t, e.must(e.do(outsider, http.MethodGet, fmt.Sprintf("labels/%d", prod), nil), 200))
	if g.Color != "#00FF00" || g.Description != "shipped" || g.Scope != "g" || g.ProjectID != 0 {
		t.Errorf("GET prod = %+v", g)
	}
	// Another project's label answers exactly as a missing one.
	hidden := e.must(e.do(maint, http.MethodGet, fmt.Sprintf("labels/%d", secret), nil), 404)
	missing := e.must(e.do(maint, http.MethodGet, "labels/99999", nil), 404)
	if strings.Contains(string(hidden.body), "secret") || strings.Replace(hidden.msg, strconv.FormatInt(secret, 10), "N", 1) != strings.Replace(missing.msg, "99999", "N", 1) {
		t.Errorf("hidden label %q vs missing %q", hidden.msg, missing.msg)
	}
	e.must(e.do(maint, http.MethodPut, fmt.Sprintf("labels/%d", secret), map[string]any{"name": "x"}), 404)
	e.must(e.do(maint, http.MethodDelete, fmt.Sprintf("labels/%d", secret), nil), 404)

	// Updates.
	e.must(e.do(dev, http.MethodPut, fmt.Sprintf("labels/%d", qa), map[string]any{"name": "qa2"}), 403)
	e.must(e.do(maint, http.MethodPut, fmt.Sprintf("labels/%d", prod), map[string]any{"name": "p2"}), 403)
	e.must(e.do(maint, http.MethodPut, fmt.Sprintf("labels/%d", qa), map[string]any{"name": "qa2", "color": "#123456"}), 200)
	e.must(e.do(admin, http.MethodPut, fmt.Sprintf("labels/%d", prod), map[string]any{"name": "qa"}), 409)
	e.must(e.do(admin, http.MethodPut, fmt.Sprintf("labels/%d", qa), map[string]any{"name": "qa3", "scope": "g"}), 400)
	got = decode[labelJSON](t, e.must(e.do(maint, http.MethodGet, fmt.Sprintf("labels/%d", qa), nil), 200))
	if got.Name != "qa2" || got.Color != "#123456" || got.Scope != "p" {
		t.Errorf("after PUT: %+v", got)
	}

	// Delete.
	e.must(e.do(guest, http.MethodDelete, fmt.Sprintf("labels/%d", qa), nil), 403)
	e.must(e.do(maint, http.MethodDelete, fmt.Sprintf("labels/%d", qa), nil), 200)
	e.must(e.do(maint, http.MethodGet, fmt.Sprintf("labels/%d", qa), nil), 404)
	e.must(e.do(maint, http.MethodDelete, fmt.Sprintf("labels/%d", qa), nil), 404)
}

type labeledArtifact struct {
	ID     int64       `json:"id"`
	Labels []labelJSON `json:"labels"`
}

// TestArtifactLabels: attach and detach labels on artifacts (developers
// and up), only system labels and the artifact's project's, shown with
// with_label; deleting a label takes it off.
func TestArtifactLabels(t *testing.T) { forEachEnv(t, testArtifactLabels) }

func testArtifactLabels(t *testing.T, e *env) {
	e.createProject("one", false)
	e.createProject("two", false)
	one, _ := e.store().Projects.GetProjectByName(t.Context(), "one")
	two, _ := e.store().Projects.GetProjectByName(t.Context(), "two")
	dev, devID := e.addUser("dev", false)
	guest, guestID := e.addUser("guest", false)
	e.addMember("one", devID, access.RoleDeveloper)
	e.addMember("one", guestID, access.RoleGuest)
	img := e.pushImage("one/app", "v1", "a")
	prod := e.createLabel(admin, map[string]any{"name": "prod", "scope": "g"})
	qa := e.createLabel(admin, map[string]any{"name": "qa", "scope": "p", "project_id": one.ID})
	foreign := e.createLabel(admin, map[string]any{"name": "foreign", "scope": "p", "project_id": two.ID})

	art := "projects/one/repositories/app/artifacts/"
	for _, tc := range []struct {
		name   string
		c      cred
		ref    string
		id     int64
		status int
	}{
		{"developer, system label, by tag", dev, "v1", prod, 200},
		{"project label, by digest", dev, img.manifest.String(), qa, 200},
		{"twice", dev, "v1", prod, 409},
		{"another project's label", admin, "v1", foreign, 400},
		{"a missing label", admin, "v1", 99999, 404},
		{"a guest may not", guest, "v1", prod, 403},
		{"anonymous", anonymous, "v1", prod, 401},
		{"a missing artifact", admin, "nope", prod, 404},
	} {
		t.Run("attach "+tc.name, func(t *testing.T) {
			e.must(e.do(tc.c, http.MethodPost, art+tc.ref+"/labels", map[string]any{"id": tc.id}), tc.status)
		})
	}
	labelsOf := func(path string) []string {
		t.Helper()
		a := decode[labeledArtifact](t, e.must(e.do(guest, http.MethodGet, path, nil), 200))
		out := []string{}
		for _, l := range a.Labels {
			out = append(out, l.Name)
		}
		return out
	}
	if d := cmp.Diff([]string{"prod", "qa"}, labelsOf(art+"v1?with_label=true")); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	list := decode[[]labeledArtifact](t, e.must(e.do(guest, http.MethodGet, "projects/one/repositories/app/artifacts?with_label=true", nil), 200))
	if len(list) != 1 || len(list[0].Labels) != 2 {
		t.Errorf("listing with_label = %+v, want one artifact with 2 labels", list)
	}
	if r := e.must(e.do(guest, http.MethodGet, art+"v1", nil), 200); strings.Contains(string(r.body), `"labels"`) {
		t.Errorf("without with_label the artifact shows labels: %s", r.body)
	}

	e.must(e.do(guest, http.MethodDelete, fmt.Sprintf("%sv1/labels/%d", art, prod), nil), 403)
	e.must(e.do(dev, http.MethodDelete, fmt.Sprintf("%sv1/labels/%d", art, prod), nil), 200)
	e.must(e.do(dev, http.MethodDelete, fmt.Sprintf("%sv1/labels/%d", art, prod), nil), 404)
	if d := cmp.Diff([]string{"qa"}, labelsOf(art+"v1?with_label=true")); d != "" {
		t.Errorf("after detach (-want +got):\n%s", d)
	}
	e.must(e.do(admin, http.MethodDelete, fmt.Sprintf("labels/%d", qa), nil), 200)
	if d := cmp.Diff([]string{}, labelsOf(art+"v1?with_label=true")); d != "" {
		t.Errorf("after the label's deletion (-want +got):\n%s", d)
	}
}
