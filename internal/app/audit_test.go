package app

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// TestRegistryAudit: pushes, pulls (GET, not HEAD) and deletes on /v2/
// reach the audit log with the caller, the resource, the project's id
// (issue 15, finding 4) and the client address; failed operations do not.
func TestRegistryAudit(t *testing.T) {
	e := newAuthEnv(t, nil)
	pub := e.project("pub", true)
	dev := e.user("dev", false, map[int64]access.Role{pub.ID: access.RoleMaintainer})
	img := e.pushImage(dev, "pub/app", "v1", []byte("layer"))
	e.must(e.do(cred{}, "GET", "/v2/pub/app/manifests/v1", nil, "Accept", ociManifest), http.StatusOK)
	e.must(e.do(dev, "HEAD", "/v2/pub/app/manifests/v1", nil, "Accept", ociManifest), http.StatusOK)
	e.must(e.do(dev, "GET", "/v2/pub/app/manifests/"+img.digest.String(), nil, "Accept", ociManifest), http.StatusOK)
	e.must(e.do(dev, "GET", "/v2/pub/app/manifests/v2", nil, "Accept", ociManifest), http.StatusNotFound)
	e.must(e.do(dev, "DELETE", "/v2/pub/app/manifests/v1", nil), http.StatusAccepted)
	e.must(e.do(dev, "DELETE", "/v2/pub/app/blobs/"+img.layer.String(), nil), http.StatusAccepted)
	e.must(e.do(dev, "DELETE", "/v2/pub/app/manifests/"+img.digest.String(), nil), http.StatusAccepted)

	want := []string{ // oldest first: user operation type resource ip
		"dev push artifact pub/app:v1 127.0.0.1",
		"anonymous pull artifact pub/app:v1 127.0.0.1",
		"dev pull artifact pub/app@" + img.digest.String() + " 127.0.0.1",
		"dev delete tag pub/app:v1 127.0.0.1",
		"dev delete blob pub/app@" + img.layer.String() + " 127.0.0.1",
		"dev delete artifact pub/app@" + img.digest.String() + " 127.0.0.1",
	}
	var got []string
	deadline := time.Now().Add(10 * time.Second) // the writer is asynchronous
	for {
		logs, _, err := e.store.Audit.ListAuditLogs(t.Context(), meta.AuditFilter{Resource: "pub/app"}, meta.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for i := len(logs) - 1; i >= 0; i-- {
			l := logs[i]
			got = append(got, l.Username+" "+l.Operation+" "+l.ResourceType+" "+l.Resource+" "+l.ClientIP)
			if l.ProjectID != pub.ID {
				t.Errorf("%s %s: project id %d, want %d", l.Operation, l.Resource, l.ProjectID, pub.ID)
			}
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("registry audit (-want +got):\n%s", d)
	}
}
