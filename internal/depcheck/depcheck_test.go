// Package depcheck holds one test: the dependency rules of STYLE.md,
// checked over `go list` so that a forbidden import fails the build's tests.
package depcheck

import (
	"bufio"
	"bytes"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/berth-registry/berth/"

type pkg struct {
	path    string
	imports []string // direct, non-test
	deps    []string // transitive, non-test
}

func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 {
			continue
		}
		p := pkg{path: strings.TrimPrefix(parts[0], module), imports: strings.Fields(parts[1]), deps: strings.Fields(parts[2])}
		pkgs[p.path] = p
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func isStd(imp string) bool { return !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") }

var edges = []string{"internal/distapi", "internal/restapi", "internal/webui", "internal/tokenauth"}

func TestDependencyRules(t *testing.T) {
	pkgs := listPackages(t)
	for name, p := range pkgs {
		base := path.Base(name)
		switch base {
		case "util", "common", "lib", "types", "models":
			t.Errorf("package %s: name %q says nothing about what it holds", name, base)
		}
		// (1) oci and storage: stdlib and the spec libraries only.
		if name == "internal/oci" || name == "internal/storage" {
			for _, d := range p.deps {
				if isStd(d) || strings.HasPrefix(d, "github.com/opencontainers/") {
					continue
				}
				t.Errorf("%s depends on %s; it may use only the stdlib, image-spec and go-digest", name, d)
			}
		}
		// (2) meta and the domain packages never import net/http.
		if name == "internal/meta" || name == "internal/content" || name == "internal/registry" || name == "internal/audit" || name == "internal/project" || name == "internal/repository" {
			for _, imp := range p.imports {
				if imp == "net/http" {
					t.Errorf("%s imports net/http", name)
				}
			}
		}
		// (2, continued) tag retention is a domain package too.
		if name == "internal/retention" && slices.Contains(p.imports, "net/http") {
			t.Errorf("%s imports net/http", name)
		}
		// (3) edges are imported by app only, and never by each other.
		for _, imp := range p.imports {
			rel := strings.TrimPrefix(imp, module)
			for _, e := range edges {
				if rel == e && name != "internal/app" {
					t.Errorf("%s imports edge package %s; only internal/app may", name, e)
				}
			}
			// (5) the test harness is imported by tests only.
			if rel == "internal/app/apptest" {
				t.Errorf("%s imports %s, which only tests may", name, rel)
			}
			// (4) only app (and cmd through it) imports concrete storage drivers.
			if strings.HasPrefix(rel, "internal/storage/") && rel != "internal/storage/storagetest" && name != "internal/app" {
				t.Errorf("%s imports the concrete driver %s; only internal/app may", name, rel)
			}
		}
	}
}
