package distapi

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEvents: OnEvent hears of each successful push, pull (GET, not HEAD)
// and delete, with the client address, and of nothing that failed.
func TestEvents(t *testing.T) {
	var (
		mu     sync.Mutex
		events []Event
	)
	c, _ := newFakeServer(t, Options{
		Auth:     &fakeAuth{},
		ClientIP: func(*http.Request) string { return "192.0.2.9" },
		OnEvent: func(_ context.Context, e Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		},
	})
	d, _ := c.pushImage("a/1", "v1", []byte("layer"))
	layer := c.pushBlob("a/1", []byte("other layer"))
	c.want(c.do("HEAD", "/v2/a/1/manifests/v1", nil), http.StatusOK, "")
	c.want(c.do("GET", "/v2/a/1/manifests/v1", nil), http.StatusOK, "")
	c.want(c.do("GET", "/v2/a/1/manifests/nope", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	c.want(c.do("DELETE", "/v2/a/1/manifests/v1", nil), http.StatusAccepted, "")
	c.want(c.do("DELETE", "/v2/a/1/blobs/"+layer.String(), nil), http.StatusAccepted, "")
	c.want(c.do("DELETE", "/v2/a/1/manifests/"+d.String(), nil), http.StatusAccepted, "")
	c.want(c.do("DELETE", "/v2/a/1/manifests/"+d.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")

	const ip = "192.0.2.9"
	want := []Event{
		{Operation: EventPush, Kind: EventArtifact, Repository: "a/1", Reference: "v1", Digest: d.String(), ClientIP: ip},
		{Operation: EventPull, Kind: EventArtifact, Repository: "a/1", Reference: "v1", Digest: d.String(), ClientIP: ip},
		{Operation: EventDelete, Kind: EventTag, Repository: "a/1", Reference: "v1", ClientIP: ip},
		{Operation: EventDelete, Kind: EventBlob, Repository: "a/1", Reference: layer.String(), Digest: layer.String(), ClientIP: ip},
		{Operation: EventDelete, Kind: EventArtifact, Repository: "a/1", Reference: d.String(), Digest: d.String(), ClientIP: ip},
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
