package browser

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/berth-registry/berth/internal/testenv"
)

// lifecycleEnv is what the lifecycle pages' tests start with: a Berth,
// the tools they need, and the administrator's REST API.
type lifecycleEnv struct {
	chromium, crane, shots, axe string
	host, base                  string
}

// newLifecycleEnv requires Chromium, the test directory, axe-core and
// crane, and starts Berth.
func newLifecycleEnv(t *testing.T) *lifecycleEnv {
	t.Helper()
	e := &lifecycleEnv{chromium: testenv.Require(t, "BERTH_TEST_CHROMIUM")}
	ldapURL := testenv.Require(t, "BERTH_TEST_LDAP")
	axePath := testenv.Require(t, "BERTH_TEST_AXE")
	e.crane = testenv.RequireBinary(t, "crane")
	e.shots = os.Getenv("BERTH_TEST_SCREENSHOTS")
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	e.axe = string(axe)
	e.host = startBerth(t, ldapURL)
	e.base = "http://" + e.host
	return e
}

// api sends body as JSON to the REST API as the administrator; the
// response is closed when the test ends.
func (e *lifecycleEnv) api(t *testing.T, method, path string, body any) *http.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, e.base+"/api/v2.0/"+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
