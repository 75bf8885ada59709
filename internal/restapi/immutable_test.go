package restapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
)

// releaseRule protects tags matching release-* in every repository.
var releaseRule = map[string]any{
	"disabled": false, "action": "immutable", "template": "immutable_template",
	"tag_selectors":   []map[string]any{{"kind": "doublestar", "decoration": "matches", "pattern": "release-*"}},
	"scope_selectors": map[string]any{"repository": []map[string]any{{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}},
}

// addRule creates rule in project as c and returns its path.
func (e *env) addRule(c cred, project string, rule map[string]any) string {
	e.t.Helper()
	r := e.must(e.do(c, http.MethodPost, "projects/"+project+"/immutabletagrules", rule), http.StatusCreated)
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "/api/v2.0/projects/"+project+"/immutabletagrules/") {
		e.t.Fatalf("Location = %q", loc)
	}
	return loc
}

type ruleJSON struct {
	ID           int64 `json:"id"`
	Disabled     bool  `json:"disabled"`
	TagSelectors []struct {
		Kind, Decoration, Pattern string
	} `json:"tag_selectors"`
	ScopeSelectors map[string][]struct{ Decoration, Pattern string } `json:"scope_selectors"`
}

// TestImmutableTagRules: the rule endpoints in Harbor's shape, for
// project administrators and maintainers only.
func TestImmutableTagRules(t *testing.T) { forEachEnv(t, testImmutableTagRules) }

func testImmutableTagRules(t *testing.T, e *env) {
	e.createProject("p", false)
	maint, maintID := e.addUser("maint", false)
	dev, devID := e.addUser("dev", false)
	e.addMember("p", maintID, access.RoleMaintainer)
	e.addMember("p", devID, access.RoleDeveloper)

	loc := e.addRule(maint, "p", releaseRule)
	e.must(e.do(dev, http.MethodPost, "projects/p/immutabletagrules", releaseRule), 403)
	e.must(e.do(anonymous, http.MethodPost, "projects/p/immutabletagrules", releaseRule), 401)
	bad := map[string]any{"tag_selectors": []map[string]any{{"decoration": "matches", "pattern": "{a"}}}
	e.must(e.do(maint, http.MethodPost, "projects/p/immutabletagrules", bad), 400)
	e.must(e.do(maint, http.MethodPost, "projects/p/immutabletagrules", map[string]any{}), 400)

	r := e.must(e.do(maint, http.MethodGet, "projects/p/immutabletagrules", nil), 200)
	rules := decode[[]ruleJSON](t, r)
	if len(rules) != 1 || r.header.Get("X-Total-Count") != "1" || rules[0].Disabled ||
		len(rules[0].TagSelectors) != 1 || rules[0].TagSelectors[0].Pattern != "release-*" ||
		rules[0].ScopeSelectors["repository"][0].Decoration != "repoMatches" || !strings.HasSuffix(loc, fmt.Sprint(rules[0].ID)) {
		t.Errorf("rules = %+v (%s), Location %s", rules, r.body, loc)
	}
	e.must(e.do(dev, http.MethodGet, "projects/p/immutabletagrules", nil), 403)

	// Toggle, then replace.
	e.must(e.do(maint, http.MethodPut, loc, map[string]any{"disabled": true}), 200)
	rules = decode[[]ruleJSON](t, e.must(e.do(maint, http.MethodGet, "projects/p/immutabletagrules", nil), 200))
	if !rules[0].Disabled || rules[0].TagSelectors[0].Pattern != "release-*" {
		t.Errorf("after disabling: %+v", rules[0])
	}
	e.must(e.do(maint, http.MethodPut, loc, map[string]any{"tag_selectors": []map[string]any{{"decoration": "matches", "pattern": "v*"}}}), 200)
	rules = decode[[]ruleJSON](t, e.must(e.do(maint, http.MethodGet, "projects/p/immutabletagrules", nil), 200))
	if rules[0].Disabled || rules[0].TagSelectors[0].Pattern != "v*" || rules[0].TagSelectors[0].Kind != "doublestar" {
		t.Errorf("after replacing: %+v", rules[0])
	}
	e.must(e.do(dev, http.MethodPut, loc, map[string]any{"disabled": true}), 403)
	e.must(e.do(maint, http.MethodPut, "projects/p/immutabletagrules/99999", map[string]any{"disabled": true}), 404)
	e.must(e.do(dev, http.MethodDelete, loc, nil), 403)
	e.must(e.do(maint, http.MethodDelete, loc, nil), 200)
	e.must(e.do(maint, http.MethodDelete, loc, nil), 404)
}

// TestImmutableTagsRefuseEveryOverwrite: with a rule protecting
// release-*, every path that would move or remove such a tag is refused,
// for the system administrator too (DENIED on /v2/, 412 on the API,
// naming the rule); unprotected tags and a disabled rule change nothing.
func TestImmutableTagsRefuseEveryOverwrite(t *testing.T) {
	forEachEnv(t, testImmutableTagsRefuseEveryOverwrite)
}

func testImmutableTagsRefuseEveryOverwrite(t *testing.T, e *env) {
	e.createProject("p", false)
	a := e.pushImage("p/app", "release-1", "a")
	b := e.pushImage("p/app", "dev", "b")
	e.pushImage("p/other", "release-1", "c")
	loc := e.addRule(admin, "p", releaseRule)
	mt := "application/vnd.oci.image.manifest.v1+json"
	manifestB := e.must(e.do(admin, http.MethodGet, "/v2/p/app/manifests/"+b.manifest.String(), nil, "Accept", mt), 200).body

	denied := func(name string, r result) {
		t.Helper()
		if r.status != 403 || r.code != "DENIED" || !strings.Contains(r.msg, "immutable tag rule") || !strings.Contains(r.msg, "release-*") {
			t.Errorf("%s: %d %s %q, want 403 DENIED naming the rule", name, r.status, r.code, r.msg)
		}
	}
	refused := func(name string, r result) {
		t.Helper()
		if r.status != 412 || r.code != "PRECONDITION" || !strings.Contains(r.msg, "immutable tag rule") {
			t.Errorf("%s: %d %s %q, want 412 PRECONDITION naming the rule", name, r.status, r.code, r.msg)
		}
	}
	art := "projects/p/repositories/app/artifacts/"
	denied("PUT another manifest by tag", e.do(admin, http.MethodPut, "/v2/p/app/manifests/release-1", manifestB, "Content-Type", mt))
	denied("PUT by digest with ?tag=", e.do(admin, http.MethodPut, "/v2/p/app/manifests/"+b.manifest.String()+"?tag=release-1", manifestB, "Content-Type", mt))
	denied("DELETE the tag on /v2/", e.do(admin, http.MethodDelete, "/v2/p/app/manifests/release-1", nil))
	denied("DELETE the manifest on /v2/", e.do(admin, http.MethodDelete, "/v2/p/app/manifests/"+a.manifest.String(), nil))
	refused("tag API delete", e.do(admin, http.MethodDelete, art+"release-1/tags/release-1", nil))
	refused("artifact delete by tag", e.do(admin, http.MethodDelete, art+"release-1", nil))
	refused("artifact delete by digest", e.do(admin, http.MethodDelete, art+a.manifest.String(), nil))
	refused("retag onto it", e.do(admin, http.MethodPost, art+b.manifest.String()+"/tags", map[string]any{"name": "release-1"}))
	refused("copy onto it", e.do(admin, http.MethodPost, "projects/p/repositories/app/artifacts?from=p/other:release-1", nil))
	refused("repository delete", e.do(admin, http.MethodDelete, "projects/p/repositories/app", nil))

	// Nothing moved or went.
	got := e.must(e.do(admin, http.MethodHead, "/v2/p/app/manifests/release-1", nil, "Accept", mt), 200)
	if got.header.Get("Docker-Content-Digest") != a.manifest.String() {
		t.Errorf("release-1 now names %s, want %s", got.header.Get("Docker-Content-Digest"), a.manifest)
	}
	e.must(e.do(admin, http.MethodHead, "/v2/p/app/manifests/dev", nil, "Accept", mt), 200)

	// What the rule allows: the same manifest again, new protected tags,
	// and any change to unprotected ones.
	manifestA := e.must(e.do(admin, http.MethodGet, "/v2/p/app/manifests/"+a.manifest.String(), nil, "Accept", mt), 200).body
	e.must(e.do(admin, http.MethodPut, "/v2/p/app/manifests/release-1", manifestA, "Content-Type", mt), 201)
	e.must(e.do(admin, http.MethodPut, "/v2/p/app/manifests/release-2", manifestB, "Content-Type", mt), 201)
	e.must(e.do(admin, http.MethodPut, "/v2/p/app/manifests/dev", manifestA, "Content-Type", mt), 201)
	e.must(e.do(admin, http.MethodDelete, art+a.manifest.String()+"/tags/dev", nil), 200)

	// The tag listing says which tags are immutable.
	type tag struct {
		Name      string `json:"name"`
		Immutable bool   `json:"immutable"`
	}
	type artifact struct {
		Tags []tag `json:"tags"`
	}
	arts := decode[[]artifact](t, e.must(e.do(admin, http.MethodGet, "projects/p/repositories/app/artifacts?with_immutable_status=true", nil), 200))
	n := 0
	for _, x := range arts {
		for _, tg := range x.Tags {
			n++
			if tg.Immutable != strings.HasPrefix(tg.Name, "release-") {
				t.Errorf("tag %s immutable = %v", tg.Name, tg.Immutable)
			}
		}
	}
	if n != 2 {
		t.Errorf("listed %d tags, want release-1 and release-2: %+v", n, arts)
	}

	// A disabled rule protects nothing.
	e.must(e.do(admin, http.MethodPut, loc, map[string]any{"disabled": true}), 200)
	e.must(e.do(admin, http.MethodPut, "/v2/p/app/manifests/release-1", manifestB, "Content-Type", mt), 201)
	e.must(e.do(admin, http.MethodDelete, art+"release-2/tags/release-2", nil), 200)
	e.must(e.do(admin, http.MethodDelete, "projects/p/repositories/app", nil), 200)
}
