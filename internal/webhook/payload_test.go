package webhook_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/webhook"
)

// TestPayloadEveryType renders one event of every Harbor event type in
// both formats and checks where its parts land: the type names, the
// repository and resources of artifact events, the scan overview of scan
// events, Harbor's "replication" and "retention" objects, the quota
// events' custom_attributes; a detail that is not a JSON object still
// renders (as {"Details": text}).
func TestPayloadEveryType(t *testing.T) {
	const dgst = digest.Digest("sha256:0000000000000000000000000000000000000000000000000000000000000001")
	at := time.Date(2026, 12, 2, 3, 4, 5, 0, time.UTC)
	proj := meta.Project{ID: 7, Name: "team", Public: true}
	artifact := func(typ string, detail string) events.Event {
		e := events.New(typ, "team/app", dgst, "alice")
		e.ID, e.ProjectID, e.Tags, e.CreatedAt, e.Detail = 42, 7, []string{"v1", "latest"}, at, json.RawMessage(detail)
		return e
	}
	projectOnly := func(typ, detail string) events.Event {
		e := events.New(typ, "", "", "retention")
		e.ID, e.ProjectID, e.CreatedAt, e.Detail = 43, 7, at, json.RawMessage(detail)
		return e
	}
	res := []any{
		map[string]any{"digest": string(dgst), "tag": "v1", "resource_url": "reg.example/team/app:v1"},
		map[string]any{"digest": string(dgst), "tag": "latest", "resource_url": "reg.example/team/app:latest"},
	}
	repo := map[string]any{"date_created": float64(at.Unix()), "name": "app", "namespace": "team", "repo_full_name": "team/app", "repo_type": "public"}
	withOverview := func(o map[string]any) []any {
		out := []any{}
		for _, r := range res {
			m := map[string]any{}
			for k, v := range r.(map[string]any) {
				m[k] = v
			}
			m["scan_overview"] = o
			out = append(out, m)
		}
		return out
	}
	overview := `{"application/vnd.security.vulnerability.report; version=1.1":{"scan_status":"Success","severity":"High"}}`
	var overviewJSON map[string]any
	_ = json.Unmarshal([]byte(overview), &overviewJSON)

	cases := map[string]struct {
		event     events.Event
		cloudType string
		data      map[string]any
	}{
		events.PushArtifact: {artifact(events.PushArtifact, ""), "harbor.artifact.pushed",
			map[string]any{"resources": res, "repository": repo}},
		events.PullArtifact: {artifact(events.PullArtifact, ""), "harbor.artifact.pulled",
			map[string]any{"resources": res, "repository": repo}},
		events.DeleteArtifact: {artifact(events.DeleteArtifact, ""), "harbor.artifact.deleted",
			map[string]any{"resources": res, "repository": repo}},
		events.ScanningCompleted: {artifact(events.ScanningCompleted, overview), "harbor.scan.completed",
			map[string]any{"resources": withOverview(overviewJSON), "repository": repo}},
		events.ScanningFailed: {artifact(events.ScanningFailed, overview), "harbor.scan.failed",
			map[string]any{"resources": withOverview(overviewJSON), "repository": repo}},
		events.ScanningStopped: {artifact(events.ScanningStopped, overview), "harbor.scan.stopped",
			map[string]any{"resources": withOverview(overviewJSON), "repository": repo}},
		events.QuotaExceed: {artifact(events.QuotaExceed, `{"Details":"adding 2 MiB will exceed the limit of 10 MiB"}`), "harbor.quota.exceeded",
			map[string]any{"resources": res, "repository": repo, "custom_attributes": map[string]any{"Details": "adding 2 MiB will exceed the limit of 10 MiB"}}},
		events.QuotaWarning: {artifact(events.QuotaWarning, `quota usage reached 85%`), "harbor.quota.warned",
			map[string]any{"resources": res, "repository": repo, "custom_attributes": map[string]any{"Details": "quota usage reached 85%"}}},
		events.Replication: {projectOnly(events.Replication, `{"job_status":"Success","trigger_type":"MANUAL"}`), "harbor.replication.status.changed",
			map[string]any{"replication": map[string]any{"job_status": "Success", "trigger_type": "MANUAL"}}},
		events.TagRetention: {projectOnly(events.TagRetention, `{"total":3,"retained":1,"project_name":"team","status":"Success"}`), "harbor.tag_retention.finished",
			map[string]any{"retention": map[string]any{"total": float64(3), "retained": float64(1), "project_name": "team", "status": "Success"}}},
	}
	for _, typ := range events.Types {
		tc, ok := cases[typ]
		if !ok {
			t.Errorf("no payload case for event type %s", typ)
			continue
		}
		t.Run(typ, func(t *testing.T) {
			b, err := webhook.Payload(tc.event, proj, 5, webhook.FormatDefault, "reg.example")
			if err != nil {
				t.Fatal(err)
			}
			var def map[string]any
			if err := json.Unmarshal(b, &def); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"type": typ, "occur_at": float64(at.Unix()), "operator": tc.event.Operator, "event_data": tc.data}
			if d := cmp.Diff(want, def); d != "" {
				t.Errorf("Default payload (-want +got):\n%s", d)
			}
			b, err = webhook.Payload(tc.event, proj, 5, webhook.FormatCloudEvents, "reg.example")
			if err != nil {
				t.Fatal(err)
			}
			var ce map[string]any
			if err := json.Unmarshal(b, &ce); err != nil {
				t.Fatal(err)
			}
			if ce["specversion"] != "1.0" || ce["type"] != tc.cloudType || ce["datacontenttype"] != "application/json" ||
				ce["time"] != "2026-12-02T03:04:05Z" || ce["source"] != "/projects/7/webhook/policies/5" || ce["operator"] != tc.event.Operator ||
				ce["id"] == "" || ce["requestid"] == "" {
				t.Errorf("CloudEvents envelope %v", ce)
			}
			if d := cmp.Diff(tc.data, ce["data"]); d != "" {
				t.Errorf("CloudEvents data (-want +got):\n%s", d)
			}
		})
	}
}
