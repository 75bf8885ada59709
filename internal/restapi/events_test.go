package restapi_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/app/apptest"
	"github.com/berth-registry/berth/internal/meta"
)

// TestEventOutbox: a push, a pull and a delete through the real server
// leave PUSH_ARTIFACT, PULL_ARTIFACT (batched off the request path; written
// while a webhook policy wants them) and DELETE_ARTIFACT rows in the
// outbox, naming the project, the operator and the tags; a push that fails
// leaves none.
func TestEventOutbox(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.srv.CreateProject(t, "evt", false)
		e.must(e.do(admin, http.MethodPost, "projects/evt/webhook/policies", map[string]any{
			"name": "pulls", "event_types": []string{"PULL_ARTIFACT"}, "enabled": true,
			"targets": []map[string]any{{"type": "http", "address": "http://127.0.0.1:9/hook"}},
		}), http.StatusCreated)
		img := e.srv.PushImage(t, admin, "evt/app", "v1")
		// A manifest referencing a missing blob: refused, no event.
		e.srv.Do(t, admin, http.MethodPut, "/v2/evt/app/manifests/bad",
			[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:`+
				"0000000000000000000000000000000000000000000000000000000000000000"+`","size":2},"layers":[]}`),
			"Content-Type", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusBadRequest)
		e.srv.Do(t, admin, http.MethodGet, "/v2/evt/app/manifests/v1", nil,
			"Accept", "application/vnd.oci.image.manifest.v1+json").Want(t, http.StatusOK)
		e.srv.REST(t, http.MethodDelete, "projects/evt/repositories/app/artifacts/"+img.Manifest.String(), nil).Want(t, http.StatusOK)

		p, err := e.store().Projects.GetProjectByName(t.Context(), "evt")
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Type, Repo, Digest, Operator string
			ProjectID                    int64
			Tags                         []string
		}
		want := []row{
			{"DELETE_ARTIFACT", "evt/app", img.Manifest.String(), "admin", p.ID, []string{"v1"}},
			{"PULL_ARTIFACT", "evt/app", img.Manifest.String(), "admin", p.ID, []string{"v1"}},
			{"PUSH_ARTIFACT", "evt/app", img.Manifest.String(), "admin", p.ID, []string{"v1"}},
		}
		var got []row
		apptest.Eventually(t, 10*time.Second, func() bool {
			es, err := e.store().Events.EventsAfter(t.Context(), 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for _, ev := range es {
				got = append(got, row{ev.Type, ev.Repository, ev.Digest.String(), ev.Operator, ev.ProjectID, ev.Tags})
			}
			return len(got) >= len(want)
		})
		// The pull's row is batched (written within a second): it may come
		// before or after the delete's.
		slices.SortFunc(got, func(a, b row) int { return strings.Compare(a.Type, b.Type) })
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outbox (-want +got):\n%s", diff)
		}
	})
}

// TestQuotaExceedEvent: a manifest push refused for the project's quota
// leaves a QUOTA_EXCEED event (in its own transaction: the push rolled
// back) and no PUSH_ARTIFACT.
func TestQuotaExceedEvent(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.must(e.do(admin, http.MethodPost, "projects", map[string]any{"project_name": "tight", "storage_limit": 700}), http.StatusCreated)
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		layer := bytes.Repeat([]byte("x"), 512)
		c, l := e.srv.PushBlob(t, admin, "tight/app", cfg), e.srv.PushBlob(t, admin, "tight/app", layer)
		m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
			c.String() + `","size":` + itoa(int64(len(cfg))) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` +
			l.String() + `","size":512}],"annotations":{"pad":"` + strings.Repeat("p", 300) + `"}}`)
		r := e.do(admin, http.MethodPut, "/v2/tight/app/manifests/v1", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if r.status != http.StatusForbidden {
			t.Fatalf("push over quota: %d %s %q", r.status, r.code, r.msg)
		}
		es, err := e.store().Events.EventsAfter(t.Context(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Type != "QUOTA_EXCEED" || es[0].Repository != "tight/app" || !strings.Contains(string(es[0].Detail), "quota exceeded") {
			t.Fatalf("events %+v, want one QUOTA_EXCEED", es)
		}
	})
}

// TestQuotaExceedEventOnBlobs: a blob upload refused for the project's
// quota leaves a QUOTA_EXCEED event naming the blob; a mount refused right
// after it, in the same crossing, leaves none more.
func TestQuotaExceedEventOnBlobs(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.must(e.do(admin, http.MethodPost, "projects", map[string]any{"project_name": "tightb", "storage_limit": 700}), http.StatusCreated)
		e.must(e.do(admin, http.MethodPost, "projects", map[string]any{"project_name": "roomy"}), http.StatusCreated)
		e.srv.PushBlob(t, admin, "tightb/app", bytes.Repeat([]byte("a"), 512))
		big := bytes.Repeat([]byte("b"), 512)
		d := digest.FromBytes(big)
		r := e.do(admin, http.MethodPost, "/v2/tightb/app/blobs/uploads/?digest="+d.String(), big, "Content-Type", "application/octet-stream")
		if r.status != http.StatusForbidden || r.code != "DENIED" {
			t.Fatalf("blob upload over quota: %d %s %q", r.status, r.code, r.msg)
		}
		other := e.srv.PushBlob(t, admin, "roomy/src", bytes.Repeat([]byte("c"), 512))
		r = e.do(admin, http.MethodPost, "/v2/tightb/app/blobs/uploads/?mount="+other.String()+"&from=roomy/src", nil)
		if r.status != http.StatusForbidden {
			t.Fatalf("mount over quota: %d %s %q", r.status, r.code, r.msg)
		}
		es, err := e.store().Events.EventsAfter(t.Context(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var quota []meta.Event
		for _, ev := range es {
			if ev.Type == "QUOTA_EXCEED" {
				quota = append(quota, ev)
			}
		}
		if len(quota) != 1 || quota[0].Repository != "tightb/app" || quota[0].Digest != d || !strings.Contains(string(quota[0].Detail), "quota exceeded") {
			t.Fatalf("QUOTA_EXCEED events %+v, want one for %s", quota, d)
		}
	})
}
