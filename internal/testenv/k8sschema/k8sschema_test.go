package k8sschema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ group, version, kind, want string }{
		{"", "v1", "Service", "service-v1.json"},
		{"apps", "v1", "Deployment", "deployment-apps-v1.json"},
		{"networking.k8s.io", "v1", "Ingress", "ingress-networking-v1.json"},
		{"policy", "v1", "PodDisruptionBudget", "poddisruptionbudget-policy-v1.json"},
	} {
		if got := FileName(tc.group, tc.version, tc.kind); got != tc.want {
			t.Errorf("FileName(%q, %q, %q) = %q, want %q", tc.group, tc.version, tc.kind, got, tc.want)
		}
	}
}

// TestGenerate: a kind's file holds its schema, strict at every level, and
// the definitions it reaches (only those).
func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	spec := `{"definitions": {
  "io.k8s.api.demo.v1.Thing": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "demo.example.com", "version": "v1", "kind": "Thing"}],
    "properties": {"spec": {"$ref": "#/definitions/io.k8s.api.demo.v1.ThingSpec"}}},
  "io.k8s.api.demo.v1.ThingSpec": {"type": "object", "properties": {"size": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
  "io.k8s.api.demo.v1.Unrelated": {"type": "object", "properties": {"x": {"type": "string"}}},
  "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "DeleteOptions"}, {"group": "apps", "version": "v1", "kind": "DeleteOptions"}]}
}}`
	path := filepath.Join(dir, "swagger.json")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	n, err := Generate(path, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // Thing and the hand-written ServiceMonitor; DeleteOptions names many kinds
		t.Errorf("wrote %d schemas, want 2", n)
	}
	b, err := os.ReadFile(filepath.Join(out, "thing-demo-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		AdditionalProperties *bool                     `json:"additionalProperties"`
		Definitions          map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.AdditionalProperties == nil || *s.AdditionalProperties {
		t.Error("the kind's schema allows unknown fields")
	}
	if len(s.Definitions) != 2 || s.Definitions["io.k8s.api.demo.v1.ThingSpec"] == nil {
		t.Errorf("definitions %v: want ThingSpec and Quantity only", s.Definitions)
	}
	spec2 := s.Definitions["io.k8s.api.demo.v1.ThingSpec"]
	if spec2["additionalProperties"] != false {
		t.Error("a nested object allows unknown fields")
	}
	if _, ok := spec2["properties"].(map[string]any)["labels"].(map[string]any)["additionalProperties"].(map[string]any); !ok {
		t.Error("a map's own additionalProperties schema was replaced")
	}
	if s.Definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"] == nil {
		t.Error("a quantity does not accept numbers")
	}
	if _, err := os.Stat(filepath.Join(out, "servicemonitor-monitoring-v1.json")); err != nil {
		t.Error(err)
	}
}
