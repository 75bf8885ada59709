package restapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/app/apptest"
)

// pushAccessory pushes a small OCI artifact into repo under ref (a tag or
// its own digest): a referrer of subject when subject is set (an SBOM),
// else a plain manifest (cosign's tag scheme names what it signs).
func (e *env) pushAccessory(repo, ref string, subject digest.Digest, seed string) digest.Digest {
	e.t.Helper()
	empty := []byte("{}")
	cfg := e.srv.PushBlob(e.t, admin, repo, empty)
	layer := e.srv.PushBlob(e.t, admin, repo, []byte("accessory "+seed))
	m := map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"artifactType": "application/spdx+json",
		"config":       map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": len(empty)},
		"layers":       []map[string]any{{"mediaType": "application/spdx+json", "digest": layer, "size": len("accessory " + seed)}},
	}
	if subject != "" {
		m["subject"] = map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject,
			"size": len(e.must(e.do(admin, http.MethodGet, "/v2/"+repo+"/manifests/"+subject.String(), nil,
				"Accept", "application/vnd.oci.image.manifest.v1+json"), http.StatusOK).body)}
	}
	body, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	d := digest.FromBytes(body)
	if ref == "" {
		ref = d.String()
	}
	e.must(e.do(admin, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, body, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), http.StatusCreated)
	return d
}

// TestRetentionCascadesAndEmits: a real run deletes an artifact together
// with its referrers (an SBOM naming it as subject) and its cosign
// accessory (sha256-<hex>.sig), where it used to fail; it keeps what an
// immutability rule protects, and the referrer of a retained artifact;
// the dry run lists exactly what the real run deletes; the real run (not
// the dry run) writes one TAG_RETENTION event in Harbor's shape.
func TestRetentionCascadesAndEmits(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.createProject("rc", false)
		pid := e.projectID("rc")
		e.addRule(admin, "rc", releaseRule)
		rel := e.srv.PushImage(t, admin, "rc/app", "release-1")
		old := e.srv.PushImage(t, admin, "rc/app", "old")
		time.Sleep(10 * time.Millisecond) // distinct push times on a coarse clock
		cur := e.srv.PushImage(t, admin, "rc/app", "new")
		sbom := e.pushAccessory("rc/app", "", old.Manifest, "sbom-old")
		sig := e.pushAccessory("rc/app", "sha256-"+old.Manifest.Encoded()+".sig", "", "sig-old")
		keep := e.pushAccessory("rc/app", "", cur.Manifest, "sbom-new")

		body := retentionPolicy(pid, "**", retentionRule("latestPushedK", 1, "**", false))
		loc := e.must(e.do(admin, http.MethodPost, "retentions", body), http.StatusCreated).header.Get("Location")
		id := strings.TrimPrefix(loc, "/api/v2.0/retentions/")

		status, tasks, dry := e.runRetention(id, true)
		if status != "Success" || len(tasks) != 1 || tasks[0].Total != 3 || tasks[0].Retained != 2 {
			t.Fatalf("dry run: %s %+v", status, tasks)
		}
		if want := []digest.Digest{old.Manifest}; !slices.Equal(dry["rc/app"], want) {
			t.Fatalf("dry run would delete %v, want %v", dry["rc/app"], want)
		}
		status, tasks, real := e.runRetention(id, false)
		if status != "Success" || len(tasks) != 1 || tasks[0].Status != "Success" || tasks[0].Retained != 2 {
			t.Fatalf("run: %s %+v", status, tasks)
		}
		if !slices.Equal(real["rc/app"], dry["rc/app"]) {
			t.Errorf("real run deleted %v, dry run said %v", real["rc/app"], dry["rc/app"])
		}
		for _, gone := range []digest.Digest{old.Manifest, sbom, sig} {
			e.must(e.do(admin, http.MethodGet, "/v2/rc/app/manifests/"+gone.String(), nil), http.StatusNotFound)
		}
		e.must(e.do(admin, http.MethodGet, "/v2/rc/app/manifests/sha256-"+old.Manifest.Encoded()+".sig", nil), http.StatusNotFound)
		for _, kept := range []digest.Digest{rel.Manifest, cur.Manifest, keep} {
			e.must(e.do(admin, http.MethodGet, "/v2/rc/app/manifests/"+kept.String(), nil), http.StatusOK)
		}

		type retention struct {
			Total, Retained int
			ProjectName     string `json:"project_name"`
			PolicyID        int64  `json:"retention_policy_id"`
			Result          string `json:"result"`
			Deleted         int    `json:"deleted"`
			Accessories     int    `json:"accessories_deleted"`
			DeletedArtifact []struct {
				Type, Status string
				NameTag      string `json:"name_tag"`
			} `json:"deleted_artifact"`
			Rules []struct {
				Template     string `json:"template"`
				TagSelectors []struct {
					Kind, Decoration, Pattern string
				} `json:"tag_selectors"`
			} `json:"retention_rule"`
		}
		var got []retention
		apptest.Eventually(t, 10*time.Second, func() bool {
			es, err := e.store().Events.EventsAfter(t.Context(), 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for _, ev := range es {
				if ev.Type != "TAG_RETENTION" {
					continue
				}
				var r retention
				if ev.ProjectID != pid || ev.Operator != "admin" || json.Unmarshal(ev.Detail, &r) != nil {
					t.Errorf("event %+v detail %s", ev, ev.Detail)
				}
				got = append(got, r)
			}
			return len(got) > 0
		})
		if len(got) != 1 {
			t.Fatalf("TAG_RETENTION events %+v, want one (the real run's)", got)
		}
		r := got[0]
		if r.Total != 3 || r.Retained != 2 || r.ProjectName != "rc" || id != itoa(r.PolicyID) || r.Result != "SUCCESS" ||
			r.Deleted != 1 || r.Accessories != 2 || len(r.DeletedArtifact) != 1 ||
			r.DeletedArtifact[0].NameTag != "app:old" || r.DeletedArtifact[0].Status != "SUCCESS" || r.DeletedArtifact[0].Type != "image" ||
			len(r.Rules) != 1 || r.Rules[0].Template != "latestPushedK" || len(r.Rules[0].TagSelectors) != 1 || r.Rules[0].TagSelectors[0].Pattern != "**" {
			t.Errorf("TAG_RETENTION retention = %+v", r)
		}
	})
}
