package restapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// TestRegistriesSecretNeverReturned: a registry endpoint's secret goes in
// and never comes out, through any response, the stored row or the log;
// "Test connection" works against a real registry (the server itself,
// through its token service) with the stored secret, and fails with a
// wrong one; only system administrators reach the endpoints.
func TestRegistriesSecretNeverReturned(t *testing.T) { forEachEnv(t, testRegistriesSecret) }

func testRegistriesSecret(t *testing.T, e *env) {
	const secret = "Adm1n-Secret-Do-Not-Leak"
	user, _ := e.addUser("regular", false)
	// The registry is the server itself, reached with a robot-like
	// account: a second administrator whose password is the secret.
	e.must(e.do(admin, http.MethodPost, "users", map[string]any{"username": "replicator", "email": "r@example.com",
		"realname": "R", "password": secret}), http.StatusCreated)
	resp := e.must(e.do(admin, http.MethodPost, "registries", map[string]any{
		"name": "self", "type": "berth", "url": e.base, "description": "loopback",
		"credential": map[string]any{"type": "basic", "access_key": "replicator", "access_secret": secret},
	}), http.StatusCreated)
	loc := resp.header.Get("Location")
	if !strings.HasPrefix(loc, "/api/v2.0/registries/") {
		t.Fatalf("Location %q", loc)
	}
	id := strings.TrimPrefix(loc, "/api/v2.0/registries/")
	e.must(e.do(admin, http.MethodPost, "registries", map[string]any{"name": "self", "type": "berth", "url": e.base}),
		http.StatusConflict)
	for _, bad := range []map[string]any{
		{"name": "x", "type": "nope", "url": e.base},
		{"name": "x", "type": "berth", "url": "ftp://host"},
		{"name": "x", "type": "berth", "url": e.base + "/path"},
		{"name": "x", "type": "berth", "url": e.base, "ca_certificate": "not pem"},
	} {
		e.must(e.do(admin, http.MethodPost, "registries", bad), http.StatusBadRequest)
	}

	var bodies []string
	for _, path := range []string{"registries", "registries/" + id, "registries?q=name%3D~sel", "registries/" + id + "/info"} {
		r := e.must(e.do(admin, http.MethodGet, path, nil), http.StatusOK)
		bodies = append(bodies, string(r.body))
	}
	got := decode[map[string]any](t, e.must(e.do(admin, http.MethodGet, "registries/"+id, nil), http.StatusOK))
	cred, _ := got["credential"].(map[string]any)
	if got["name"] != "self" || got["type"] != "berth" || cred["access_key"] != "replicator" || cred["type"] != "basic" {
		t.Errorf("GET registry: %v", got)
	}
	if _, ok := cred["access_secret"]; ok {
		t.Errorf("GET registry returns access_secret: %v", cred)
	}

	// Test connection: stored credentials, then a wrong secret, then a
	// definition without an id.
	e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"id": mustInt(t, id)}), http.StatusOK)
	r := e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"id": mustInt(t, id), "access_secret": "wrong"}),
		http.StatusBadRequest)
	bodies = append(bodies, string(r.body))
	e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"type": "berth", "url": e.base,
		"access_key": "replicator", "access_secret": secret}), http.StatusOK)
	e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"type": "berth", "url": "http://127.0.0.1:1"}),
		http.StatusBadRequest)

	// An update without a secret keeps the stored one.
	e.must(e.do(admin, http.MethodPut, "registries/"+id, map[string]any{"description": "changed"}), http.StatusOK)
	e.must(e.do(admin, http.MethodPost, "registries/ping", map[string]any{"id": mustInt(t, id)}), http.StatusOK)

	// Not for other users.
	e.must(e.do(user, http.MethodGet, "registries", nil), http.StatusForbidden)
	e.must(e.do(user, http.MethodPost, "registries/ping", map[string]any{"id": mustInt(t, id)}), http.StatusForbidden)
	e.must(e.do(anonymous, http.MethodGet, "registries/"+id, nil), http.StatusUnauthorized)

	for _, b := range bodies {
		if strings.Contains(b, secret) {
			t.Errorf("a response holds the secret: %s", b)
		}
	}
	rows, _, err := e.store().Registries.ListRegistries(t.Context(), "", metaPage(10))
	if err != nil || len(rows) != 1 {
		t.Fatalf("stored registries: %v, %v", rows, err)
	}
	if strings.Contains(rows[0].Secret, secret) || !strings.HasPrefix(rows[0].Secret, "v1:") {
		t.Errorf("stored secret is not sealed: %q", rows[0].Secret)
	}
	if strings.Contains(e.srv.Logs(), secret) {
		t.Error("the server log holds the secret")
	}
	e.must(e.do(admin, http.MethodDelete, "registries/"+id, nil), http.StatusOK)
	e.must(e.do(admin, http.MethodGet, "registries/"+id, nil), http.StatusNotFound)
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q is not an id", s)
	}
	return n
}

func metaPage(n int) meta.Page { return meta.Page{Limit: n} }
