package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/fsck"
)

// TestQuotaEnforcedAtPush: a project with a storage limit refuses the
// blob commit and the manifest PUT that would pass it with 403 DENIED
// quoting used, requested and limit; /quotas shows Harbor's shapes; only
// system administrators see or change quotas.
func TestQuotaEnforcedAtPush(t *testing.T) {
	e := newAuthEnv(t, nil)
	e.must(e.api(admin, "POST", "/projects", map[string]any{"project_name": "team", "storage_limit": 1000}), http.StatusCreated)
	small := bytes.Repeat([]byte("a"), 600)
	e.pushBlob(admin, "team/app", small)
	big := bytes.Repeat([]byte("b"), 500)
	r := e.do(admin, "POST", "/v2/team/app/blobs/uploads/?digest="+digestOf(big), big)
	if r.status != http.StatusForbidden || r.code != "DENIED" ||
		!strings.Contains(r.msg, "used 600, requested 500, limit 1000") {
		t.Fatalf("push over quota: %d %s %q, want 403 DENIED quoting used, requested and limit", r.status, r.code, r.msg)
	}
	var qs []struct {
		ID   int64          `json:"id"`
		Ref  map[string]any `json:"ref"`
		Hard struct{ Storage int64 }
		Used struct{ Storage int64 }
	}
	if err := json.Unmarshal(e.must(e.api(admin, "GET", "/quotas?reference=project&reference_id="+
		fmt.Sprint(e.projectID("team")), nil), http.StatusOK).body, &qs); err != nil || len(qs) != 1 {
		t.Fatalf("quotas: %v %+v", err, qs)
	}
	if qs[0].Hard.Storage != 1000 || qs[0].Used.Storage != 600 || qs[0].Ref["name"] != "team" {
		t.Fatalf("quota = %+v, want hard 1000, used 600, ref team", qs[0])
	}
	// A manifest over the limit is refused too.
	e.must(e.api(admin, "PUT", fmt.Sprintf("/quotas/%d", qs[0].ID), map[string]any{"hard": map[string]any{"storage": 650}}), http.StatusOK)
	cfgBlob := []byte(`{"os":"linux"}`)
	cd := e.pushBlob(admin, "team/app", cfgBlob)
	m := imageManifest(cd, digestOfD(small), len(cfgBlob), len(small))
	r = e.do(admin, "PUT", "/v2/team/app/manifests/v1", m, "Content-Type", ociManifest)
	if r.status != http.StatusForbidden || r.code != "DENIED" || !strings.Contains(r.msg, "limit 650") {
		t.Fatalf("manifest over quota: %d %s %q", r.status, r.code, r.msg)
	}
	// The 85% and 100% events are in the audit log.
	logs := string(e.must(e.api(admin, "GET", "/audit-logs?page_size=100", nil), http.StatusOK).body)
	if !strings.Contains(logs, "quota_warning") {
		t.Errorf("no quota_warning event in the audit log: %s", logs)
	}
	// Not for others.
	dev := e.user("dev", false, map[int64]access.Role{e.projectID("team"): access.RoleDeveloper})
	e.must(e.api(dev, "GET", "/quotas", nil), http.StatusForbidden)
	e.must(e.api(dev, "POST", "/projects", map[string]any{"project_name": "mine", "storage_limit": 5}), http.StatusForbidden)
}

func digestOf(b []byte) string { return digest.FromBytes(b).String() }

func digestOfD(b []byte) digest.Digest { return digest.FromBytes(b) }

func (e *authEnv) projectID(name string) int64 {
	e.t.Helper()
	p, err := e.store.Projects.GetProjectByName(e.t.Context(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

// TestGCAPI: a manual run through POST /system/gc/schedule deletes an
// unreferenced blob past its grace, and its record and log say how many
// blobs and bytes it freed; the schedule takes cron and intervals; only
// system administrators may use any of it; fsck is clean afterwards.
func TestGCAPI(t *testing.T) {
	e := newAuthEnv(t, map[string]string{"BERTH_GC_GRACE": "1s"})
	lone := bytes.Repeat([]byte("z"), 123)
	e.pushBlob(admin, "library/app", lone)
	e.pushImage(admin, "library/app", "v1", []byte("kept layer"))
	time.Sleep(1500 * time.Millisecond) // past the grace period
	loc := e.must(e.api(admin, "POST", "/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Manual"}}),
		http.StatusCreated).header.Get("Location")
	path := strings.TrimPrefix(loc, "/api/v2.0")
	var run struct {
		JobStatus    string `json:"job_status"`
		JobKind      string `json:"job_kind"`
		BlobsDeleted int64  `json:"blobs_deleted"`
		BytesFreed   int64  `json:"bytes_freed"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for run.JobStatus != "Success" {
		if time.Now().After(deadline) {
			t.Fatalf("run %s: %+v, want Success", loc, run)
		}
		time.Sleep(200 * time.Millisecond)
		if err := json.Unmarshal(e.must(e.api(admin, "GET", path, nil), http.StatusOK).body, &run); err != nil {
			t.Fatal(err)
		}
	}
	// The continuous sweep may have collected it first; then the manual
	// run freed nothing. Either way the blob is gone.
	e.must(e.do(admin, "HEAD", "/v2/library/app/blobs/"+digestOf(lone), nil), http.StatusNotFound)
	log := string(e.must(e.api(admin, "GET", path+"/log", nil), http.StatusOK).body)
	if !strings.Contains(log, "reviewed") || run.JobKind != "MANUAL" {
		t.Fatalf("run %+v log %q", run, log)
	}
	e.must(e.do(admin, "GET", "/v2/library/app/manifests/v1", nil, "Accept", ociManifest), http.StatusOK)
	e.must(e.api(admin, "GET", "/system/gc", nil), http.StatusOK)
	e.must(e.api(admin, "PUT", "/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "0 0 3 * * *"}}), http.StatusOK)
	e.must(e.api(admin, "PUT", "/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Interval", "cron": "6h"}}), http.StatusOK)
	e.must(e.api(admin, "PUT", "/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Custom", "cron": "nope"}}), http.StatusBadRequest)
	var sched struct {
		Schedule struct{ Type, Cron string } `json:"schedule"`
	}
	if err := json.Unmarshal(e.must(e.api(admin, "GET", "/system/gc/schedule", nil), http.StatusOK).body, &sched); err != nil ||
		sched.Schedule.Type != "Interval" || sched.Schedule.Cron != "6h0m0s" {
		t.Fatalf("schedule %+v %v", sched, err)
	}
	dev := e.user("dev", false, nil)
	e.must(e.api(dev, "GET", "/system/gc", nil), http.StatusForbidden)
	e.must(e.api(dev, "POST", "/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Manual"}}), http.StatusForbidden)

}

// TestGCCommandBesideServer: `berth gc` runs against the database and
// storage of a serving Berth, deletes what nothing references, and fsck
// (counters against a recount included) is clean afterwards.
func TestGCCommandBesideServer(t *testing.T) {
	cfg := testConfig(t)
	e := startReplica(t, cfg)
	lone := bytes.Repeat([]byte("q"), 77)
	e.pushBlob(admin, "library/app", lone)
	img := e.pushImage(admin, "library/app", "v1", []byte("layer"))
	var out bytes.Buffer
	if err := GC(t.Context(), cfg, slog.New(slog.DiscardHandler), GCOptions{DryRun: true, Grace: 0}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would delete 1 blobs, 77 bytes") {
		t.Fatalf("dry run: %s", out.String())
	}
	e.must(e.do(admin, "HEAD", "/v2/library/app/blobs/"+digestOf(lone), nil), http.StatusOK)
	out.Reset()
	if err := GC(t.Context(), cfg, slog.New(slog.DiscardHandler), GCOptions{Grace: 0}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "deleted 1 blobs, 77 bytes") {
		t.Fatalf("gc: %s", out.String())
	}
	e.must(e.do(admin, "HEAD", "/v2/library/app/blobs/"+digestOf(lone), nil), http.StatusNotFound)
	e.must(e.do(admin, "GET", "/v2/library/app/blobs/"+img.layer.String(), nil), http.StatusOK)
	out.Reset()
	if err := Fsck(t.Context(), cfg, slog.New(slog.DiscardHandler), fsck.Options{Orphans: true}, &out); err != nil {
		t.Fatalf("fsck after gc: %v\n%s", err, out.String())
	}
}
