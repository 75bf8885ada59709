package restapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/meta"
)

type repoJSON struct {
	ID            int64     `json:"id"`
	ProjectID     int64     `json:"project_id"`
	Name          string    `json:"name"`
	ArtifactCount int       `json:"artifact_count"`
	PullCount     int       `json:"pull_count"`
	CreationTime  time.Time `json:"creation_time"`
	UpdateTime    time.Time `json:"update_time"`
}

type tagJSON struct {
	Name     string    `json:"name"`
	PushTime time.Time `json:"push_time"`
}

type artifactJSON struct {
	Type              string    `json:"type"`
	Digest            string    `json:"digest"`
	MediaType         string    `json:"media_type"`
	ManifestMediaType string    `json:"manifest_media_type"`
	RepositoryName    string    `json:"repository_name"`
	Size              int64     `json:"size"`
	PushTime          time.Time `json:"push_time"`
	Tags              []tagJSON `json:"tags"`
}

var ignoreTimes = cmpopts.IgnoreTypes(time.Time{})

// TestRepositoriesAndArtifacts pushes images through /v2/ and reads,
// tags, untags and deletes them through the REST API.
func TestRepositoriesAndArtifacts(t *testing.T) { forEachEnv(t, testRepositoriesAndArtifacts) }

func testRepositoriesAndArtifacts(t *testing.T, e *env) {
	e.createProject("team", false)
	api := e.pushImage("team/app/api", "v1", "api")
	web := e.pushImage("team/web", "latest", "web")
	e.pushImage("team/web", "old", "web-old")

	repos := decode[[]repoJSON](t, e.must(e.do(admin, "GET", "projects/team/repositories", nil), 200))
	if d := cmp.Diff([]repoJSON{
		{ProjectID: 2, Name: "team/app/api", ArtifactCount: 1},
		{ProjectID: 2, Name: "team/web", ArtifactCount: 2},
	}, repos, ignoreTimes, cmpopts.IgnoreFields(repoJSON{}, "ID")); d != "" {
		t.Errorf("repositories (-want +got):\n%s", d)
	}
	for _, r := range repos {
		if r.CreationTime.IsZero() || r.UpdateTime.Before(r.CreationTime) {
			t.Errorf("%s: creation_time %v, update_time %v", r.Name, r.CreationTime, r.UpdateTime)
		}
	}
	e.must(e.do(admin, "GET", "projects/team/repositories?q=name=~web", nil), 200)
	if n := len(decode[[]repoJSON](t, e.do(admin, "GET", "projects/team/repositories?q=name=~web", nil))); n != 1 {
		t.Errorf("q=name=~web: %d repositories, want 1", n)
	}

	// A nested repository name comes escaped once or twice.
	for _, name := range []string{"app%2Fapi", "app%252Fapi"} {
		got := decode[repoJSON](t, e.must(e.do(admin, "GET", "projects/team/repositories/"+name, nil), 200))
		if got.Name != "team/app/api" || got.ArtifactCount != 1 {
			t.Errorf("GET %s = %+v", name, got)
		}
	}
	e.must(e.do(admin, "GET", "projects/team/repositories/none", nil), 404)
	e.must(e.do(admin, "GET", "projects/team/repositories/Bad%2FName", nil), 400)

	// Artifacts: sizes, tags, media types.
	arts := decode[[]artifactJSON](t, e.must(e.do(admin, "GET", "projects/team/repositories/app%2Fapi/artifacts", nil), 200))
	want := []artifactJSON{{
		Type: "IMAGE", Digest: api.manifest.String(), MediaType: "application/vnd.oci.image.config.v1+json",
		ManifestMediaType: "application/vnd.oci.image.manifest.v1+json", RepositoryName: "team/app/api",
		Size: api.size, Tags: []tagJSON{{Name: "v1"}},
	}}
	if d := cmp.Diff(want, arts, ignoreTimes); d != "" {
		t.Errorf("artifacts (-want +got):\n%s", d)
	}
	if arts[0].PushTime.IsZero() || arts[0].Tags[0].PushTime.IsZero() {
		t.Errorf("push times missing: %+v", arts[0])
	}
	noTags := decode[[]artifactJSON](t, e.must(e.do(admin, "GET", "projects/team/repositories/app%2Fapi/artifacts?with_tag=false", nil), 200))
	if len(noTags) != 1 || len(noTags[0].Tags) != 0 {
		t.Errorf("with_tag=false: %+v", noTags)
	}
	r := e.must(e.do(admin, "GET", "projects/team/repositories/web/artifacts?page_size=1", nil), 200)
	if r.header.Get("X-Total-Count") != "2" || len(decode[[]artifactJSON](t, r)) != 1 {
		t.Errorf("web artifacts page: total %q, body %s", r.header.Get("X-Total-Count"), r.body)
	}
	for _, ref := range []string{"latest", web.manifest.String()} {
		got := decode[artifactJSON](t, e.must(e.do(admin, "GET", "projects/team/repositories/web/artifacts/"+ref, nil), 200))
		if got.Digest != web.manifest.String() || got.Size != web.size {
			t.Errorf("artifact %s = %+v", ref, got)
		}
	}
	e.must(e.do(admin, "GET", "projects/team/repositories/web/artifacts/nope", nil), 404)
	e.must(e.do(admin, "GET", "projects/team/repositories/web/artifacts/sha256:zz", nil), 400)

	// Tags: add, conflict, list, remove; the artifact stays.
	tags := "projects/team/repositories/web/artifacts/" + web.manifest.String() + "/tags"
	e.must(e.do(admin, "POST", tags, map[string]string{"name": "stable"}), http.StatusCreated)
	if r := e.do(admin, "POST", tags, map[string]string{"name": "stable"}); r.status != 409 || r.code != "CONFLICT" {
		t.Errorf("duplicate tag: %d %s", r.status, r.code)
	}
	if r := e.do(admin, "POST", tags, map[string]string{"name": "old"}); r.status != 409 {
		t.Errorf("tag taken by another artifact: %d, want 409", r.status)
	}
	e.must(e.do(admin, "POST", tags, map[string]string{"name": "bad tag"}), 400)
	got := decode[[]tagJSON](t, e.must(e.do(admin, "GET", tags, nil), 200))
	if d := cmp.Diff([]tagJSON{{Name: "latest"}, {Name: "stable"}}, got, ignoreTimes); d != "" {
		t.Errorf("tags (-want +got):\n%s", d)
	}
	e.must(e.do(admin, "GET", "/v2/team/web/manifests/stable", nil), 200)
	e.must(e.do(admin, "DELETE", tags+"/old", nil), 404) // on another artifact
	e.must(e.do(admin, "DELETE", tags+"/stable", nil), 200)
	e.must(e.do(admin, "DELETE", tags+"/stable", nil), 404)
	e.must(e.do(admin, "GET", "/v2/team/web/manifests/stable", nil), 404)
	e.must(e.do(admin, "GET", "/v2/team/web/manifests/latest", nil), 200)

	// A project with repositories cannot be deleted.
	if r := e.do(admin, "DELETE", "projects/team", nil); r.status != 412 || r.code != "PRECONDITION" {
		t.Errorf("delete non-empty project: %d %s, want 412 PRECONDITION", r.status, r.code)
	}
	del := decode[map[string]any](t, e.must(e.do(admin, "GET", "projects/team/_deletable", nil), 200))
	if del["deletable"] != false {
		t.Errorf("_deletable = %v", del)
	}
	sum := decode[map[string]int](t, e.must(e.do(admin, "GET", "projects/team/summary", nil), 200))
	if sum["repo_count"] != 2 || sum["project_admin_count"] != 1 {
		t.Errorf("summary = %v", sum)
	}

	// Deleting an artifact by tag deletes the manifest and all its tags.
	e.must(e.do(admin, "DELETE", "projects/team/repositories/web/artifacts/latest", nil), 200)
	e.must(e.do(admin, "GET", "/v2/team/web/manifests/"+web.manifest.String(), nil), 404)
	if n := len(decode[[]artifactJSON](t, e.do(admin, "GET", "projects/team/repositories/web/artifacts", nil))); n != 1 {
		t.Errorf("%d artifacts left in team/web, want 1", n)
	}

	// Deleting the repositories empties the project, which can then go.
	e.must(e.do(admin, "DELETE", "projects/team/repositories/web", nil), 200)
	e.must(e.do(admin, "DELETE", "projects/team/repositories/app%252Fapi", nil), 200)
	e.must(e.do(admin, "GET", "/v2/team/app/api/manifests/v1", nil), 404)
	e.must(e.do(admin, "DELETE", "projects/team/repositories/web", nil), 404)
	e.must(e.do(admin, "DELETE", "projects/team", nil), 200)

	// The project's deletion is the last entry the server writes.
	var resources []string
	apptest.Eventually(t, 5*time.Second, func() bool {
		resources = nil
		for _, l := range e.auditLogs(meta.AuditFilter{Operation: "delete"}, 0) {
			resources = append(resources, l.ResourceType+" "+l.Resource)
		}
		return slices.Contains(resources, "project team")
	})
	for _, w := range []string{"project team", "repository team/web", "tag team/web:stable", "artifact team/web@" + web.manifest.String()} {
		if !slices.Contains(resources, w) {
			t.Errorf("audit log lacks %q: %v", w, resources)
		}
	}
}

// TestDeleteReferencedArtifact: as in Harbor, an artifact that an index or
// a referrer still needs is not deleted (412 PRECONDITION) until they are;
// deleting the whole repository still works.
func TestDeleteReferencedArtifact(t *testing.T) { forEachEnv(t, testDeleteReferencedArtifact) }

func testDeleteReferencedArtifact(t *testing.T, e *env) {
	e.createProject("team", false)
	child := e.pushImage("team/multi", "child", "child")
	raw := e.must(e.do(admin, http.MethodGet, "/v2/team/multi/manifests/child", nil), http.StatusOK)
	idx, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []map[string]any{{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child.manifest, "size": len(raw.body)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.do(admin, http.MethodPut, "/v2/team/multi/manifests/index", idx, "Content-Type", "application/vnd.oci.image.index.v1+json"), http.StatusCreated)

	r := e.do(admin, http.MethodDelete, "projects/team/repositories/multi/artifacts/"+child.manifest.String(), nil)
	e.must(r, http.StatusPreconditionFailed)
	if !strings.Contains(string(r.body), "PRECONDITION") || !strings.Contains(string(r.body), digest.FromBytes(idx).String()) {
		t.Errorf("refusal body: %s", r.body)
	}
	e.must(e.do(admin, http.MethodGet, "/v2/team/multi/manifests/"+child.manifest.String(), nil), http.StatusOK)
	// The repository goes with everything in it, whatever the order.
	e.must(e.do(admin, http.MethodDelete, "projects/team/repositories/multi", nil), http.StatusOK)
	e.must(e.do(admin, http.MethodGet, "projects/team/repositories/multi", nil), http.StatusNotFound)
}
