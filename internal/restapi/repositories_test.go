package restapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// repoNames lists the names of a GET /repositories answer.
func repoNames(t *testing.T, r result) []string {
	t.Helper()
	out := []string{}
	for _, x := range decode[[]repoJSON](t, r) {
		out = append(out, x.Name)
	}
	return out
}

// TestListAllRepositories: GET /repositories lists the repositories of
// every project the caller may see, never a private one's (names or
// count), with q, sort, paging and descriptions.
func TestListAllRepositories(t *testing.T) { forEachEnv(t, testListAllRepositories) }

func testListAllRepositories(t *testing.T, e *env) {
	e.createProject("pub", true)
	e.createProject("priv", false)
	e.createProject("mine", false)
	alice, aliceID := e.addUser("alice", false)
	e.addMember("mine", aliceID, access.RoleGuest)
	e.pushImage("pub/b", "1", "b")
	e.pushImage("priv/secret", "1", "s")
	e.pushImage("mine/app", "1", "m")
	e.pushImage("pub/a", "1", "a")

	for _, tc := range []struct {
		name  string
		c     cred
		query string
		want  []string
		total string
	}{
		{"anonymous sees public only", anonymous, "", []string{"pub/a", "pub/b"}, "2"},
		{"a member sees its project too", alice, "", []string{"mine/app", "pub/a", "pub/b"}, "3"},
		{"admin sees everything", admin, "", []string{"mine/app", "priv/secret", "pub/a", "pub/b"}, "4"},
		{"q", admin, "?q=name%3D~sec", []string{"priv/secret"}, "1"},
		{"q hides what is hidden", anonymous, "?q=name%3D~sec", []string{}, "0"},
		{"newest first", admin, "?sort=-creation_time", []string{"pub/a", "mine/app", "priv/secret", "pub/b"}, "4"},
		{"page", anonymous, "?page=2&page_size=1", []string{"pub/b"}, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.must(e.do(tc.c, "GET", "repositories"+tc.query, nil), 200)
			if d := cmp.Diff(tc.want, repoNames(t, r)); d != "" {
				t.Errorf("names (-want +got):\n%s", d)
			}
			if got := r.header.Get("X-Total-Count"); got != tc.total {
				t.Errorf("X-Total-Count = %s, want %s", got, tc.total)
			}
			if strings.Contains(r.header.Get("Link"), "secret") || (tc.c.User != "admin" && strings.Contains(string(r.body), "priv")) {
				t.Errorf("a private name leaks: %s %s", r.header.Get("Link"), r.body)
			}
		})
	}
	r := e.must(e.do(anonymous, "GET", "repositories?page=1&page_size=1", nil), 200)
	if link := r.header.Get("Link"); !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "page=2") {
		t.Errorf("Link = %q, want a next page", link)
	}
	got := decode[[]repoJSON](t, e.must(e.do(admin, "GET", "repositories?q=name%3D~pub/a", nil), 200))
	pub, err := e.store().Projects.GetProjectByName(t.Context(), "pub")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ProjectID != pub.ID || got[0].ArtifactCount != 1 {
		t.Errorf("pub/a = %+v, want project %d and 1 artifact", got, pub.ID)
	}
	for _, q := range []string{"?sort=payload", "?q=colour%3Dred", "?page=0"} {
		e.must(e.do(admin, "GET", "repositories"+q, nil), 400)
	}
}

// TestRepositoryDescription: PUT .../repositories/{r} sets the
// description every repository GET returns; who may, and the audit entry.
func TestRepositoryDescription(t *testing.T) { forEachEnv(t, testRepositoryDescription) }

func testRepositoryDescription(t *testing.T, e *env) {
	e.createProject("team", false)
	dev, devID := e.addUser("dev", false)
	guest, guestID := e.addUser("guest", false)
	e.addMember("team", devID, access.RoleDeveloper)
	e.addMember("team", guestID, access.RoleGuest)
	e.pushImage("team/app/api", "1", "x")
	const path = "projects/team/repositories/app%2Fapi"

	e.must(e.do(dev, "PUT", path, map[string]string{"description": "the API"}), 200)
	for _, p := range []string{path, "projects/team/repositories", "repositories"} {
		if !strings.Contains(string(e.must(e.do(admin, "GET", p, nil), 200).body), `"description":"the API"`) {
			t.Errorf("GET %s does not show the description", p)
		}
	}
	for _, tc := range []struct {
		name   string
		c      cred
		path   string
		body   any
		status int
	}{
		{"guest", guest, path, map[string]string{"description": "x"}, 403},
		{"anonymous", anonymous, path, map[string]string{"description": "x"}, 401},
		{"missing repository", admin, "projects/team/repositories/none", map[string]string{"description": "x"}, 404},
		{"no description", admin, path, map[string]string{"name": "x"}, 400},
		{"too long", admin, path, map[string]string{"description": strings.Repeat("x", 16<<10+1)}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.must(e.do(tc.c, "PUT", tc.path, tc.body), tc.status)
		})
	}
	logs := e.auditLogs(meta.AuditFilter{Username: "dev", Operation: "update"}, 1)
	if len(logs) != 1 || logs[0].ResourceType != "repository" || logs[0].Resource != "team/app/api" {
		t.Errorf("audit = %+v, want dev updating repository team/app/api", logs)
	}
}

// pushIndex pushes an OCI index over manifests to repo:tag as admin.
func (e *env) pushIndex(repo, tag string, children ...image) digest.Digest {
	e.t.Helper()
	var ms []map[string]any
	for _, c := range children {
		r := e.must(e.do(admin, "GET", "/v2/"+repo+"/manifests/"+c.manifest.String(), nil, "Accept", "application/vnd.oci.image.manifest.v1+json"), 200)
		ms = append(ms, map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": c.manifest, "size": len(r.body)})
	}
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ms})
	if err != nil {
		e.t.Fatal(err)
	}
	e.must(e.do(admin, "PUT", "/v2/"+repo+"/manifests/"+tag, b, "Content-Type", "application/vnd.oci.image.index.v1+json"), 201)
	return digest.FromBytes(b)
}

// countBlobs counts the blob rows: a copy must add none.
func (e *env) countBlobs() int {
	e.t.Helper()
	bs, err := e.store().Blobs.ListBlobs(e.t.Context(), "", 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(bs)
}

// TestCopyArtifact: POST .../artifacts?from= copies an image or an index
// (with its children and tags) by linking blobs; it needs pull on the
// source and push on the destination, and a hidden source answers as a
// missing one.
func TestCopyArtifact(t *testing.T) { forEachEnv(t, testCopyArtifact) }

func testCopyArtifact(t *testing.T, e *env) {
	e.createProject("src", false)
	e.createProject("dst", false)
	dev, devID := e.addUser("dev", false)       // developer in dst, guest in src
	guest, guestID := e.addUser("guest", false) // guest in dst, developer in src
	outsider, outID := e.addUser("outsider", false)
	e.addMember("dst", devID, access.RoleDeveloper)
	e.addMember("src", devID, access.RoleGuest)
	e.addMember("dst", guestID, access.RoleGuest)
	e.addMember("src", guestID, access.RoleDeveloper)
	e.addMember("dst", outID, access.RoleDeveloper) // no role in src
	img := e.pushImage("src/app", "v1", "one")
	img2 := e.pushImage("src/app", "v2", "two")
	idx := e.pushIndex("src/app", "multi", img, img2)
	blobs := e.countBlobs()

	const copyPath = "projects/dst/repositories/copy/artifacts?from="
	r := e.must(e.do(dev, "POST", copyPath+"src/app:v1", nil), 201)
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/artifacts/"+img.manifest.String()) {
		t.Errorf("Location = %q", loc)
	}
	art := decode[artifactJSON](t, e.must(e.do(dev, "GET", "projects/dst/repositories/copy/artifacts/v1", nil), 200))
	if art.Digest != img.manifest.String() || art.Size != img.size || len(art.Tags) != 1 || art.Tags[0].Name != "v1" {
		t.Errorf("copied artifact = %+v", art)
	}
	// The copy is pullable through /v2/: the blobs are linked to it.
	for _, d := range []digest.Digest{img.config, img.layer} {
		e.must(e.do(admin, "GET", "/v2/dst/copy/blobs/"+d.String(), nil), 200)
	}
	// An index by digest, with its children.
	e.must(e.do(dev, "POST", copyPath+"src/app@"+idx.String(), nil), 201)
	got := e.must(e.do(dev, "GET", "projects/dst/repositories/copy/artifacts/multi", nil), 200)
	if !strings.Contains(string(got.body), img2.manifest.String()) {
		t.Errorf("copied index lacks its child %s: %s", img2.manifest, got.body)
	}
	e.must(e.do(admin, "GET", "/v2/dst/copy/manifests/"+img2.manifest.String(), nil), 200)
	if n := e.countBlobs(); n != blobs {
		t.Errorf("%d blob rows after copying, want %d (linked, not copied)", n, blobs)
	}

	hidden := e.do(outsider, "POST", copyPath+"src/app:v1", nil)
	missing := e.do(outsider, "POST", copyPath+"nosuch/app:v1", nil)
	if hidden.status != 403 || hidden.status != missing.status || hidden.code != missing.code || hidden.msg != missing.msg {
		t.Errorf("hidden source %d %s %q, missing source %d %s %q: want the same 403", hidden.status, hidden.code, hidden.msg,
			missing.status, missing.code, missing.msg)
	}
	for _, tc := range []struct {
		name   string
		c      cred
		path   string
		status int
	}{
		{"again", dev, copyPath + "src/app:v1", 409},
		{"guest in the destination", guest, "projects/dst/repositories/other/artifacts?from=src/app:v1", 403},
		{"anonymous", anonymous, copyPath + "src/app:v1", 401},
		{"missing tag in a visible project", dev, copyPath + "src/app:nope", 404},
		{"missing repository in a visible project", dev, copyPath + "src/none:v1", 404},
		{"no from", dev, "projects/dst/repositories/copy/artifacts", 400},
		{"no reference", dev, copyPath + "src/app", 400},
		{"no project", dev, copyPath + "app:v1", 400},
		{"bad digest", dev, copyPath + "src/app@sha256:zz", 400},
		{"destination project missing", admin, "projects/none/repositories/x/artifacts?from=src/app:v1", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.must(e.do(tc.c, "POST", tc.path, nil), tc.status)
		})
	}
	logs := e.auditLogs(meta.AuditFilter{Username: "dev", ResourceType: "artifact"}, 2)
	if len(logs) != 2 || logs[1].Operation != "create" || logs[1].Resource != "dst/copy@"+img.manifest.String() {
		t.Errorf("audit = %+v, want two copies by dev", logs)
	}
}

// TestBuildHistory: .../additions/build_history is the image
// configuration's history; 404 for an index and other additions.
func TestBuildHistory(t *testing.T) { forEachEnv(t, testBuildHistory) }

func testBuildHistory(t *testing.T, e *env) {
	e.createProject("team", false)
	img := e.pushImage("team/app", "plain", "plain") // its configuration has no history
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":[` +
		`{"created":"2024-01-02T03:04:05Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},` +
		`{"created_by":"CMD [\"sh\"]","empty_layer":true}]}`)
	d := digest.FromBytes(cfg)
	e.must(e.do(admin, "POST", "/v2/team/app/blobs/uploads/?digest="+d.String(), cfg, "Content-Type", "application/octet-stream"), 201)
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d, "size": len(cfg)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": img.layer, "size": len("layer plain")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.do(admin, "PUT", "/v2/team/app/manifests/hist", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 201)
	idx := e.pushIndex("team/app", "idx", img)
	guest, guestID := e.addUser("guest", false)
	e.addMember("team", guestID, access.RoleGuest)

	const base = "projects/team/repositories/app/artifacts/"
	r := e.must(e.do(guest, "GET", base+"hist/additions/build_history", nil), 200)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var hist []map[string]any
	if err := json.Unmarshal(r.body, &hist); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"created": "2024-01-02T03:04:05Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
		{"created_by": `CMD ["sh"]`, "empty_layer": true},
	}
	if d := cmp.Diff(want, hist); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
	if got := string(e.must(e.do(guest, "GET", base+"plain/additions/build_history", nil), 200).body); got != "[]" {
		t.Errorf("no history = %s, want []", got)
	}
	for _, tc := range []struct {
		name   string
		c      cred
		path   string
		status int
	}{
		{"index", admin, base + idx.String() + "/additions/build_history", 404},
		{"other addition", admin, base + "hist/additions/readme.md", 404},
		{"missing artifact", admin, base + "nope/additions/build_history", 404},
		{"anonymous on a private project", anonymous, base + "hist/additions/build_history", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.must(e.do(tc.c, "GET", tc.path, nil), tc.status)
		})
	}
}

// TestHarborFields: fields Harbor always returns, Tag.id and
// Project.cve_allowlist.
func TestHarborFields(t *testing.T) { forEachEnv(t, testHarborFields) }

func testHarborFields(t *testing.T, e *env) {
	e.createProject("team", false)
	e.pushImage("team/app", "v1", "x")
	e.must(e.do(admin, "POST", "projects/team/repositories/app/artifacts/v1/tags", map[string]string{"name": "v2"}), 201)
	tags := decode[[]struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}](t, e.must(e.do(admin, "GET", "projects/team/repositories/app/artifacts/v1/tags", nil), 200))
	if len(tags) != 2 || tags[0].ID == 0 || tags[1].ID == 0 || tags[0].ID == tags[1].ID {
		t.Errorf("tags = %+v, want two distinct ids", tags)
	}
	var proj struct {
		ProjectID    int64 `json:"project_id"`
		CVEAllowlist *struct {
			ProjectID int64           `json:"project_id"`
			Items     json.RawMessage `json:"items"`
			ExpiresAt json.RawMessage `json:"expires_at"`
		} `json:"cve_allowlist"`
	}
	if err := json.Unmarshal(e.must(e.do(admin, "GET", "projects/team", nil), 200).body, &proj); err != nil {
		t.Fatal(err)
	}
	if a := proj.CVEAllowlist; a == nil || a.ProjectID != proj.ProjectID || string(a.Items) != "[]" || string(a.ExpiresAt) != "null" {
		t.Errorf("cve_allowlist = %+v", proj.CVEAllowlist)
	}
	if !strings.Contains(string(e.must(e.do(admin, "GET", "projects", nil), http.StatusOK).body), `"cve_allowlist":{`) {
		t.Error("GET /projects lacks cve_allowlist")
	}
}
