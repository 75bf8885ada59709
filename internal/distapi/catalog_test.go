package distapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"
	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage/filesystem"
	"github.com/berth-registry/berth/internal/tokenauth"
)

// TestCatalogNoLeak pages through the catalog as callers who may see only
// some projects, with a private project whose repositories sort between
// visible ones. No page, Link header or error may name a repository the
// caller cannot see, and paging still reaches every visible one.
func TestCatalogNoLeak(t *testing.T) {
	ctx := t.Context()
	store := metatest.OpenSQLite(t)
	drv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ids, err := identity.New(identity.Stores{Users: store.Users, Robots: store.Robots, Projects: store.Projects}, log, identity.Options{Hash: &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateUser(ctx, identity.NewUser{Username: "plain", Password: "Plain12345"}); err != nil {
		t.Fatal(err)
	}
	var repos []string
	for _, p := range []struct {
		name   string
		public bool
		repos  int
	}{{"alpha", true, 2}, {"middle", false, 25}, {"omega", true, 2}, {"zz-secret", false, 3}} {
		if _, err := store.Projects.CreateProject(ctx, meta.Project{Name: p.name, Public: p.public}); err != nil {
			t.Fatal(err)
		}
		for i := range p.repos {
			name := p.name + "/r" + string(rune('a'+i))
			if _, err := store.Repos.EnsureRepository(ctx, name); err != nil {
				t.Fatal(err)
			}
			repos = append(repos, name)
		}
	}
	key, _, err := tokenauth.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := tokenauth.NewIssuer(key, tokenauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gate, err := tokenauth.NewGate(tokenauth.Config{Issuer: issuer, Identity: ids, Access: access.NewChecker(store.Projects), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, log), registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store}, nil, log), log, Options{Auth: gate}))
	t.Cleanup(srv.Close)
	anon, err := issuer.Issue("", []tokenauth.ResourceActions{{Type: "registry", Name: "catalog", Actions: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	visible := []string{"alpha/ra", "alpha/rb", "omega/ra", "omega/rb"}
	callers := []struct {
		name string
		c    *client
		hdr  []string
	}{
		{"anonymous", &client{t: t, base: srv.URL}, []string{"Authorization", "Bearer " + anon.Raw}},
		{"user without projects", &client{t: t, base: srv.URL, user: "plain", pass: "Plain12345"}, nil},
	}
	for _, caller := range callers {
		for _, n := range []int{1, 2, 3, 5} {
			t.Run(caller.name+"/n="+itoa(n), func(t *testing.T) {
				c := &client{t: t, base: caller.c.base, user: caller.c.user, pass: caller.c.pass}
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
