package distapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// TestCatalogNoLeak pages through the catalog as callers who may see only
// some projects, with a private project whose repositories sort between
// visible ones. No page, Link header or error may name a repository the
// caller cannot see, and paging still reaches every visible one.
func TestCatalogNoLeak(t *testing.T) {
	apptest.ForEachConfig(t, testCatalogNoLeak)
}

func testCatalogNoLeak(t *testing.T, srv *apptest.Server) {
	srv.CreateUser(t, "plain", "Plain12345", false)
	var repos []string
	for _, p := range []struct {
		name   string
		public bool
		repos  int
	}{{"alpha", true, 2}, {"middle", false, 25}, {"omega", true, 2}, {"zz-secret", false, 3}} {
		srv.CreateProject(t, p.name, p.public)
		for i := range p.repos {
			name := p.name + "/r" + string(rune('a'+i))
			// Empty repositories: the catalog lists them, and a push of
			// each would cost a second here.
			if _, err := srv.Store(t).Repos.EnsureRepository(t.Context(), name); err != nil {
				t.Fatal(err)
			}
			repos = append(repos, name)
		}
	}
	// An anonymous caller's token for the catalog, from the token service.
	var tok struct{ Token string }
	srv.Do(t, apptest.Cred{}, http.MethodGet, "/service/token?service=berth&scope=registry:catalog:*", nil).
		Want(t, http.StatusOK).Decode(t, &tok)
	anon := &client{t: t, srv: srv, base: srv.URL}
	visible := []string{"alpha/ra", "alpha/rb", "omega/ra", "omega/rb"}
	callers := []struct {
		name string
		c    *client
		hdr  []string
	}{
		{"anonymous", anon, []string{"Authorization", "Bearer " + tok.Token}},
		{"user without projects", anon.as(t, "plain", "Plain12345"), nil},
	}
	for _, caller := range callers {
		for _, n := range []int{1, 2, 3, 5} {
			t.Run(caller.name+"/n="+itoa(n), func(t *testing.T) {
				c := caller.c.as(t, caller.c.user, caller.c.pass)
				var got []string
				path := "/v2/_catalog?n=" + itoa(n)
				for pages := 0; path != ""; pages++ {
					if pages > len(repos) {
						t.Fatalf("paging does not end")
					}
					r := c.do("GET", path, nil, caller.hdr...)
					c.want(r, http.StatusOK, "")
					for _, h := range []string{string(r.body), r.header.Get("Link")} {
						if strings.Contains(h, "middle") || strings.Contains(h, "secret") {
							t.Fatalf("GET %s leaks a private repository: body %s, Link %q", path, r.body, r.header.Get("Link"))
						}
					}
					var page struct {
						Repositories []string `json:"repositories"`
					}
					if err := json.Unmarshal(r.body, &page); err != nil {
						t.Fatal(err)
					}
					if len(page.Repositories) > n {
						t.Fatalf("page of %d for n=%d", len(page.Repositories), n)
					}
					got = append(got, page.Repositories...)
					path = nextPath(t, r.header.Get("Link"))
				}
				if d := cmp.Diff(visible, got); d != "" {
					t.Errorf("repositories over all pages (-want +got):\n%s", d)
				}
			})
		}
	}
	// A cursor inside the private project says nothing either.
	c := callers[1].c
	r := c.do("GET", "/v2/_catalog?n=1&last=middle/rc", nil)
	c.want(r, http.StatusOK, "")
	if !strings.Contains(string(r.body), `"omega/ra"`) || strings.Contains(r.header.Get("Link"), "middle") {
		t.Errorf("catalog after a private cursor: %s, Link %q", r.body, r.header.Get("Link"))
	}
}

// nextPath returns the path and query of a Link rel="next" header, or "".
func nextPath(t *testing.T, link string) string {
	t.Helper()
	if link == "" {
		return ""
	}
	start, end := strings.IndexByte(link, '<'), strings.IndexByte(link, '>')
	if start < 0 || end < start {
		t.Fatalf("malformed Link %q", link)
	}
	u, err := url.Parse(link[start+1 : end])
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}
