// Package k8sschema turns the Kubernetes OpenAPI v2 description
// (api/openapi-spec/swagger.json of the k8s.io/kubernetes module) into the
// per-kind JSON schema files kubeconform reads, strict: every object that
// lists its properties refuses any other. The Helm chart's test validates
// every rendered object against them, offline.
//
// Files are named as kubeconform's schema-location template
// {{ .ResourceKind }}{{ .KindSuffix }}.json expects: deployment-apps-v1.json,
// service-v1.json, ingress-networking-v1.json. Each is standalone: the kind's
// schema plus, under "definitions", every definition it reaches.
package k8sschema

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type swagger struct {
	Definitions map[string]map[string]any `json:"definitions"`
}

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// Generate reads the swagger file and writes one schema per group, version
// and kind into outDir; it returns how many it wrote.
func Generate(swaggerPath, outDir string) (int, error) {
	b, err := os.ReadFile(swaggerPath)
	if err != nil {
		return 0, fmt.Errorf("k8sschema: %w", err)
	}
	var sw swagger
	if err := json.Unmarshal(b, &sw); err != nil {
		return 0, fmt.Errorf("k8sschema: %s: %w", swaggerPath, err)
	}
	if len(sw.Definitions) == 0 {
		return 0, fmt.Errorf("k8sschema: %s has no definitions", swaggerPath)
	}
	defs := make(map[string]any, len(sw.Definitions))
	for name, d := range sw.Definitions {
		defs[name] = strictify(special(name, d))
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return 0, fmt.Errorf("k8sschema: %w", err)
	}
	names := make([]string, 0, len(sw.Definitions))
	for name := range sw.Definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	n := 0
	for _, name := range names {
		raw, ok := sw.Definitions[name]["x-kubernetes-group-version-kind"]
		if !ok {
			continue
		}
		var kinds []gvk
		if err := remarshal(raw, &kinds); err != nil {
			return n, fmt.Errorf("k8sschema: %s: %w", name, err)
		}
		// Only a definition naming one kind is that kind's object
		// (DeleteOptions, WatchEvent... name many and are no resource).
		if len(kinds) != 1 {
			continue
		}
		k := kinds[0]
		reached := map[string]any{}
		collect(defs[name], defs, reached)
		schema := map[string]any{}
		for key, v := range defs[name].(map[string]any) {
			schema[key] = v
		}
		schema["definitions"] = reached
		out, err := json.Marshal(schema)
		if err != nil {
			return n, fmt.Errorf("k8sschema: %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(outDir, FileName(k.Group, k.Version, k.Kind)), out, 0o644); err != nil {
			return n, fmt.Errorf("k8sschema: %w", err)
		}
		n++
	}
	// Custom resources the chart renders, which the spec does not describe.
	if err := os.WriteFile(filepath.Join(outDir, "servicemonitor-monitoring-v1.json"), serviceMonitor, 0o644); err != nil {
		return n, fmt.Errorf("k8sschema: %w", err)
	}
	return n + 1, nil
}

// serviceMonitor is prometheus-operator's ServiceMonitor, written by hand.
//
//go:embed servicemonitor-monitoring-v1.json
var serviceMonitor []byte

// FileName is the file kubeconform looks for with the template
// {{ .ResourceKind }}{{ .KindSuffix }}.json: the kind in lower case, the
// first label of the group, the version.
func FileName(group, version, kind string) string {
	suffix := ""
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return strings.ToLower(kind) + suffix + "-" + strings.ToLower(version) + ".json"
}

// special replaces the two string-typed definitions that YAML writes as
// numbers too: a quantity (cpu: 1) and an int-or-string (port: 5000).
func special(name string, d map[string]any) map[string]any {
	switch name {
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	}
	return d
}

// strictify returns a copy of the schema node in which every object that
// lists properties allows no others.
func strictify(v any) any {
	switch n := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(n)+1)
		for k, c := range n {
			if k == "properties" {
				props := map[string]any{}
				for pk, pv := range c.(map[string]any) {
					props[pk] = strictify(pv)
				}
				out[k] = props
				continue
			}
			out[k] = strictify(c)
		}
		if _, ok := n["properties"]; ok {
			if _, set := n["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(n))
		for i, c := range n {
			out[i] = strictify(c)
		}
		return out
	}
	return v
}

// collect adds every definition v refers to, transitively, to reached.
func collect(v any, defs map[string]any, reached map[string]any) {
	switch n := v.(type) {
	case map[string]any:
		for k, c := range n {
			if ref, ok := c.(string); ok && k == "$ref" {
				name := strings.TrimPrefix(ref, "#/definitions/")
				if _, seen := reached[name]; seen {
					continue
				}
				if d, ok := defs[name]; ok {
					reached[name] = d
					collect(d, defs, reached)
				}
				continue
			}
			collect(c, defs, reached)
		}
	case []any:
		for _, c := range n {
			collect(c, defs, reached)
		}
	}
}

func remarshal(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
