package distapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage/filesystem"
)

// fakeAuth records what the API asks and answers from fields.
type fakeAuth struct {
	err     error
	visible func(string) bool
	asked   []string // "repo:action,action"
}

func (f *fakeAuth) Authorize(r *http.Request, repo string, actions []string) (context.Context, error) {
	f.asked = append(f.asked, repo+":"+strings.Join(actions, ","))
	return r.Context(), f.err
}

func (f *fakeAuth) Allowed(context.Context, string, []string) bool { return f.err == nil }

func (f *fakeAuth) FilterVisible(_ context.Context, repos []string) ([]string, error) {
	out := []string{}
	for _, r := range repos {
		if f.visible == nil || f.visible(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

func newFakeServer(t *testing.T, opts Options) (*client, *registry.Service) {
	t.Helper()
	store := metatest.OpenSQLite(t)
	drv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	reg := registry.New(registry.Stores{Repos: store.Repos, Manifests: store.Manifests, Tx: store}, nil, log)
	srv := httptest.NewServer(New(content.New(content.Stores{Blobs: store.Blobs, Uploads: store.Uploads, Tx: store}, drv, log), reg, log, opts))
	t.Cleanup(srv.Close)
	for _, r := range []string{"a/1", "a/2", "b/1", "b/2", "b/3", "c/1", "d/1", "d/2"} {
		if _, err := store.Repos.EnsureRepository(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	return &client{t: t, base: srv.URL}, reg
}

// TestActionsAsked: every route asks the authorizer for the actions it needs.
func TestActionsAsked(t *testing.T) {
	f := &fakeAuth{}
	c, _ := newFakeServer(t, Options{Auth: f})
	d := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/v2/", ":"},
		{"GET", "/v2/_catalog", ":"},
		{"GET", "/v2/a/1/tags/list", "a/1:pull"},
		{"GET", "/v2/a/1/manifests/v1", "a/1:pull"},
		{"HEAD", "/v2/a/1/manifests/v1", "a/1:pull"},
		{"PUT", "/v2/a/1/manifests/v1", "a/1:push"},
		{"DELETE", "/v2/a/1/manifests/v1", "a/1:delete"},
		{"GET", "/v2/a/1/blobs/" + d, "a/1:pull"},
		{"HEAD", "/v2/a/1/blobs/" + d, "a/1:pull"},
		{"DELETE", "/v2/a/1/blobs/" + d, "a/1:delete"},
		{"POST", "/v2/a/1/blobs/uploads/", "a/1:push"},
		{"GET", "/v2/a/1/blobs/uploads/x", "a/1:push"},
		{"PATCH", "/v2/a/1/blobs/uploads/x", "a/1:push"},
		{"PUT", "/v2/a/1/blobs/uploads/x", "a/1:push"},
		{"DELETE", "/v2/a/1/blobs/uploads/x", "a/1:push"},
		{"GET", "/v2/a/1/referrers/" + d, "a/1:pull"},
	}
	for _, tt := range tests {
		f.asked = nil
		c.do(tt.method, tt.path, nil)
		if d := cmp.Diff([]string{tt.want}, f.asked); d != "" {
			t.Errorf("%s %s asked (-want +got):\n%s", tt.method, tt.path, d)
		}
	}
	// Bad names and unknown routes are answered before authorization.
	f.asked = nil
	c.do("GET", "/v2/Bad/manifests/x", nil)
	c.do("GET", "/v2/nothing", nil)
	if len(f.asked) != 0 {
		t.Errorf("asked %v for requests that fail to parse", f.asked)
	}
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		name, realm, method, path string
		hdr                       []string
		want                      string
	}{
		{"base", "", "GET", "/v2/", nil, `Bearer realm="http://HOST/service/token",service="berth"`},
		{"catalog", "", "GET", "/v2/_catalog", nil, `Bearer realm="http://HOST/service/token",service="berth",scope="registry:catalog:*"`},
		{"pull", "", "GET", "/v2/lib/app/manifests/v1", nil, `Bearer realm="http://HOST/service/token",service="berth",scope="repository:lib/app:pull"`},
		{"push asks for pull too", "", "POST", "/v2/lib/app/blobs/uploads/", nil, `Bearer realm="http://HOST/service/token",service="berth",scope="repository:lib/app:pull,push"`},
		{"delete", "", "DELETE", "/v2/lib/app/manifests/v1", nil, `Bearer realm="http://HOST/service/token",service="berth",scope="repository:lib/app:delete"`},
		{"behind a TLS proxy", "", "GET", "/v2/", []string{"X-Forwarded-Proto", "https"}, `Bearer realm="https://HOST/service/token",service="berth"`},
		{"external url", "https://reg.example.com/service/token", "GET", "/v2/", nil, `Bearer realm="https://reg.example.com/service/token",service="berth"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newFakeServer(t, Options{Auth: &fakeAuth{err: access.ErrUnauthorized}, TokenRealm: tt.realm})
			r := c.do(tt.method, tt.path, nil, tt.hdr...)
			c.want(r, http.StatusUnauthorized, "UNAUTHORIZED")
			want := strings.ReplaceAll(tt.want, "HOST", strings.TrimPrefix(c.base, "http://"))
			if got := r.header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %s\nwant                %s", got, want)
			}
		})
	}
	t.Run("403 has no challenge", func(t *testing.T) {
		c, _ := newFakeServer(t, Options{Auth: &fakeAuth{err: access.ErrDenied}})
		r := c.do("GET", "/v2/lib/app/manifests/v1", nil)
		c.want(r, http.StatusForbidden, "DENIED")
		if h := r.header.Get("WWW-Authenticate"); h != "" {
			t.Errorf("403 carries a challenge: %s", h)
		}
	})
	t.Run("no authorizer refuses everything", func(t *testing.T) {
		c, _ := newFakeServer(t, Options{})
		for _, p := range []string{"/v2/", "/v2/a/1/tags/list"} {
			c.want(c.do("GET", p, nil), http.StatusUnauthorized, "UNAUTHORIZED")
		}
	})
}

// TestCatalogFilter: pages hold only visible repositories, fill up across
// hidden ones, and link on from the last repository returned or scanned.
func TestCatalogFilter(t *testing.T) {
	f := &fakeAuth{visible: func(r string) bool { return !strings.HasPrefix(r, "b/") }}
	c, _ := newFakeServer(t, Options{Auth: f})
	tests := []struct {
		query    string
		want     []string
		wantLink string
	}{
		{"", []string{"a/1", "a/2", "c/1", "d/1", "d/2"}, ""},
		{"?n=2", []string{"a/1", "a/2"}, "last=a%2F2&n=2"},
		{"?n=2&last=a/2", []string{"c/1", "d/1"}, "last=d%2F1&n=2"},
		{"?n=3&last=a/2", []string{"c/1", "d/1", "d/2"}, ""},
		{"?n=1&last=a/2", []string{"c/1"}, "last=c%2F1&n=1"},
		{"?n=2&last=d/1", []string{"d/2"}, ""},
		{"?n=0", []string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := c.do("GET", "/v2/_catalog"+tt.query, nil)
			c.want(r, http.StatusOK, "")
			var got struct {
				Repositories []string `json:"repositories"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got.Repositories); d != "" {
				t.Errorf("repositories (-want +got):\n%s", d)
			}
			link := r.header.Get("Link")
			if (tt.wantLink == "") != (link == "") || !strings.Contains(link, tt.wantLink) {
				t.Errorf("Link = %q, want one with %q", link, tt.wantLink)
			}
		})
	}
	// Nothing visible: an empty list, and no page can loop forever.
	f.visible = func(string) bool { return false }
	r := c.do("GET", "/v2/_catalog?n=1", nil)
	c.want(r, http.StatusOK, "")
	if !strings.Contains(string(r.body), `"repositories":[]`) {
		t.Errorf("catalog = %s", r.body)
	}
}
