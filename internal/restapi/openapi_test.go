package restapi_test

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/berth-registry/berth/docs"
	"github.com/berth-registry/berth/internal/restapi"
	"github.com/berth-registry/berth/internal/version"
)

// TestOpenAPIMatchesRoutes keeps docs/openapi.yaml true: every route the
// API registers is documented with its method, and every documented
// operation is routed.
func TestOpenAPIMatchesRoutes(t *testing.T) { forEachEnv(t, testOpenAPIMatchesRoutes) }

func testOpenAPIMatchesRoutes(t *testing.T, e *env) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(docs.OpenAPI(), &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	methods := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}
	var documented []string
	for path, item := range doc.Paths {
		for m, op := range item {
			if !methods[m] {
				continue // parameters, summary ...
			}
			if op, _ := op.(map[string]any); op["operationId"] == nil {
				t.Errorf("%s %s has no operationId", m, path)
			}
			documented = append(documented, strings.ToUpper(m)+" "+path)
		}
	}
	var routed []string
	for _, p := range restapi.New(restapi.Deps{}, slog.New(slog.DiscardHandler)).Patterns() {
		routed = append(routed, strings.TrimSuffix(p, "{$}")) // "/metadatas/{$}" is the path "/metadatas/"
	}
	slices.Sort(documented)
	slices.Sort(routed)
	if d := cmp.Diff(routed, documented); d != "" {
		t.Errorf("routes (-) and docs/openapi.yaml (+) differ:\n%s", d)
	}

	r := e.must(e.do(anonymous, http.MethodGet, "openapi.yaml", nil), 200)
	if string(r.body) != string(docs.OpenAPI()) || !strings.Contains(r.header.Get("Content-Type"), "yaml") {
		t.Errorf("GET /api/v2.0/openapi.yaml: %s, %d bytes", r.header.Get("Content-Type"), len(r.body))
	}
}

func TestSystemEndpoints(t *testing.T) { forEachEnv(t, testSystemEndpoints) }

func testSystemEndpoints(t *testing.T, e *env) {
	if r := e.must(e.do(anonymous, "GET", "ping", nil), 200); string(r.body) != "Pong" {
		t.Errorf("ping = %q", r.body)
	}
	health := decode[map[string]any](t, e.must(e.do(anonymous, "GET", "health", nil), 200))
	if d := cmp.Diff(map[string]any{"status": "healthy", "components": []any{
		map[string]any{"name": "database", "status": "healthy"},
		map[string]any{"name": "storage", "status": "healthy"},
	}}, health); d != "" {
		t.Errorf("health (-want +got):\n%s", d)
	}
	anon := decode[map[string]any](t, e.must(e.do(anonymous, "GET", "systeminfo", nil), 200))
	if anon["auth_mode"] != "db_auth" || anon["harbor_version"] != nil || anon["current_time"] == nil {
		t.Errorf("anonymous systeminfo = %v, want auth_mode and no version", anon)
	}
	full := decode[map[string]any](t, e.must(e.do(admin, "GET", "systeminfo", nil), 200))
	for k, want := range map[string]any{"harbor_version": version.String(), "with_notary": false, "project_creation_restriction": "everyone",
		"external_url": e.base, "registry_url": strings.TrimPrefix(e.base, "http://")} {
		if full[k] != want {
			t.Errorf("systeminfo[%s] = %v, want %v", k, full[k], want)
		}
	}
	if r := e.do(anonymous, "GET", "nothing/here", nil); r.status != 404 || r.code != "NOT_FOUND" {
		t.Errorf("unknown path: %d %s", r.status, r.code)
	}
	if r := e.do(anonymous, "PATCH", "projects", nil); r.status != 405 {
		t.Errorf("PATCH /projects: %d, want 405", r.status)
	}
}
